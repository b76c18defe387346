//! The JobManager's web dashboard in a real browser (Debian's chromium, headless; installed by
//! `scripts/test.sh`): a job running on two TaskManagers, and the pages a user opens. The test
//! reads the DOM the page's script built and the screenshot the browser drew, and checks they
//! show what the REST API says: the job and its state, the job graph with each vertex's
//! parallelism, rates and backpressure (its color follows them), checkpoints, TaskManagers,
//! and the failure a killed TaskManager caused.

use std::path::Path;
use std::process::Command;

mod support;
use support::cluster::Cluster;
use support::{get, vertex_ids};

/// Datagen at full speed into an aggregation: the vertices have rates to show.
const JOB: &str = "
SET 'execution.checkpointing.interval' = '500 ms';
SET 'state.checkpoints.dir' = '${DIR}/checkpoints';
CREATE TABLE src (k BIGINT, v STRING) WITH ('connector' = 'datagen',
  'fields.k.min' = '0', 'fields.k.max' = '100000');
CREATE TABLE snk (k BIGINT, c BIGINT, m STRING) WITH ('connector' = 'blackhole');
INSERT INTO snk SELECT k, COUNT(*), MAX(v) FROM src GROUP BY k;
";

/// The vertex colors of `app.js`: blue, busy (orange), backpressured (red).
const COLORS: [(&str, [u8; 3]); 3] = [
    ("#2f6fb5", [0x2f, 0x6f, 0xb5]),
    ("#d9822b", [0xd9, 0x82, 0x2b]),
    ("#b5302f", [0xb5, 0x30, 0x2f]),
];

/// Runs headless chromium on `url` with `what` (`--dump-dom`, `--screenshot=…`); its stdout.
fn chromium(dir: &Path, what: &str, url: &str) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,1100",
            // Script time for the page's first fetches to come back and render.
            "--virtual-time-budget=4000",
            &format!("--user-data-dir={}", dir.join("chromium").display()),
            what,
            url,
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run chromium ({e}); install Debian's chromium (scripts/test.sh does)")
        });
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The text of each `<g class="vertex" data-vertex="id">` and its fill color.
fn vertices(dom: &str) -> Vec<(String, String, String)> {
    dom.split("<g class=\"vertex\" data-vertex=\"")
        .skip(1)
        .map(|part| {
            let id = part.split('"').next().unwrap().to_string();
            let body = part.split("</g>").next().unwrap();
            let fill = body
                .split("fill=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string();
            (id, fill, body.to_string())
        })
        .collect()
}

/// A percentage the vertex box shows, e.g. `busy 12%`.
fn percent(text: &str, label: &str) -> f64 {
    let rest = text
        .split(&format!("{label} "))
        .nth(1)
        .unwrap_or_else(|| panic!("no '{label}' in {text}"));
    rest.split('%').next().unwrap().parse().unwrap()
}

/// Pixels of the screenshot in exactly this color.
fn pixels_of(png: &Path, rgb: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::fs::File::open(png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| p[..3] == rgb)
        .count()
}

#[test]
fn the_dashboard_shows_jobs_graph_checkpoints_task_managers_and_failures() {
    let mut cluster = Cluster::start("dashboard", 2, 1);
    let script = JOB.replace("${DIR}", cluster.dir.to_str().unwrap());
    let id = cluster.submit_script(&script, 2);
    let detail = cluster.job(&id);
    let ids = vertex_ids(&detail);
    assert_eq!(ids.len(), 2, "{detail}");
    cluster.wait("checkpoints and rates", || {
        cluster.completed_checkpoints(&id) >= 2
            && ids.iter().all(|v| {
                let path =
                    format!("/jobs/{id}/vertices/{v}/subtasks/metrics?get=busyTimeMsPerSecond");
                get(&cluster.rest, &path)
                    .1
                    .as_array()
                    .is_some_and(|m| !m.is_empty())
            })
    });
    let base = format!("http://{}", cluster.rest);
    let dir = cluster.dir.clone();

    // The overview: the cluster's figures and the job.
    let dom = chromium(&dir, "--dump-dom", &format!("{base}/#/"));
    assert!(dom.contains("id=\"cluster-overview\""), "{dom}");
    assert!(dom.contains("TaskManagers<b>2</b>"), "{dom}");
    assert!(dom.contains(&format!("data-job=\"{id}\"")), "{dom}");
    assert!(
        dom.contains(&format!(
            "href=\"#/jobs/{id}\">{}",
            detail["name"].as_str().unwrap()
        )),
        "{dom}"
    );
    assert!(
        dom.contains("<span class=\"state RUNNING\">RUNNING</span>"),
        "{dom}"
    );

    // The job: its graph, with rates and colors that follow backpressure and busy time.
    let page = format!("{base}/#/jobs/{id}");
    let dom = chromium(&dir, "--dump-dom", &page);
    let drawn = vertices(&dom);
    assert_eq!(
        drawn.iter().map(|(v, _, _)| v.clone()).collect::<Vec<_>>(),
        ids,
        "{dom}"
    );
    for (v, fill, text) in &drawn {
        assert!(text.contains("parallelism 2"), "{v}: {text}");
        let (busy, back) = (percent(text, "busy"), percent(text, "backpressured"));
        let want = if back >= 50.0 {
            "#b5302f"
        } else if busy >= 50.0 {
            "#d9822b"
        } else {
            "#2f6fb5"
        };
        assert_eq!(fill, want, "{v}: busy {busy}%, backpressured {back}%");
    }
    // The source sends, the aggregation receives, across the HASH edge.
    assert!(!drawn[0].2.contains("out 0/s"), "{}", drawn[0].2);
    assert!(!drawn[1].2.contains("in 0/s"), "{}", drawn[1].2);
    assert!(dom.contains(">HASH</text>"), "{dom}");
    let completed: u64 = dom
        .split("id=\"checkpoints-completed\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(completed >= 2, "{dom}");
    assert!(dom.contains("class=\"checkpoint-row\""), "{dom}");
    assert!(dom.contains("id=\"exceptions\""), "{dom}");

    // The screenshot shows the boxes in their colors.
    let shot = dir.join("job.png");
    chromium(&dir, &format!("--screenshot={}", shot.display()), &page);
    for (v, fill, _) in &drawn {
        let rgb = COLORS.iter().find(|(c, _)| c == fill).unwrap().1;
        let n = pixels_of(&shot, rgb);
        assert!(
            n > 5_000,
            "vertex {v}: {n} pixels of {fill} in {}",
            shot.display()
        );
    }

    // TaskManagers.
    let tms = cluster.task_managers();
    let dom = chromium(&dir, "--dump-dom", &format!("{base}/#/taskmanagers"));
    assert_eq!(dom.matches("class=\"tm-row\"").count(), 2, "{dom}");
    for t in &tms {
        assert!(dom.contains(t["id"].as_str().unwrap()), "{dom}");
    }

    // A TaskManager dies: the job page shows the failure; a replacement lets it run on.
    let victim = cluster.busy_task_manager();
    let address = cluster.data_address(victim);
    cluster.tms[victim].signal(libc::SIGKILL);
    cluster.wait("the failure to be recorded", || {
        let (_, e) = get(&cluster.rest, &format!("/jobs/{id}/exceptions"));
        e["exceptionHistory"]["entries"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    });
    cluster.add_task_manager(1);
    let dom = chromium(&dir, "--dump-dom", &page);
    let exceptions = dom.split("id=\"exceptions\"").nth(1).unwrap();
    assert!(exceptions.contains("class=\"exception-row\""), "{dom}");
    // The JobManager saw it lost, or its peer saw the data connection break: either names it.
    assert!(exceptions.contains(&address), "{address}: {dom}");

    // Cancelled through the API, the overview says so.
    cluster.cancel(&id);
    cluster.wait("the job to be cancelled", || {
        cluster.job(&id)["state"] == "CANCELED"
    });
    let dom = chromium(&dir, "--dump-dom", &format!("{base}/#/"));
    assert!(
        dom.contains("<span class=\"state CANCELED\">CANCELED</span>"),
        "{dom}"
    );
}
