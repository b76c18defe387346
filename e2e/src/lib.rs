//! Runnel's end-to-end test bed: a real Kubernetes control plane (etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler built from the Kubernetes Go modules, with a kubelet
//! stand-in that runs pods as local processes), a real Apache Kafka broker and a real S3-compatible
//! server, all started by scripts in this folder and torn down when the test process ends.

pub mod bids;
pub mod cluster;
pub mod k8s;
pub mod kafka;
pub mod operator;
pub mod process;
pub mod s3;
