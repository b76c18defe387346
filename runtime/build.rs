//! Generates the control plane's gRPC code from `proto/cluster.proto`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/cluster.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
