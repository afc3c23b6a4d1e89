//! `orrery serve` and `orrery ctl` end to end, as separate processes on 127.0.0.1:0: the
//! cluster script (start, wait-healthy, pause a node, partition, heal, status, stop), the
//! token rules of a non-loopback server, and the Python client's tests
//! (`clients/python/test_orrery_ctl.py`, which need `python3`: missing, this test fails and
//! says so).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

const SCENARIO: &str = "scenarios/smoke/echo.yaml";

fn orrery(args: &[&str], token: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orrery"));
    command.args(args).current_dir(env!("CARGO_MANIFEST_DIR")).env_remove("ORRERY_CONTROL_TOKEN");
    if let Some(token) = token {
        command.env("ORRERY_CONTROL_TOKEN", token);
    }
    command.output().expect("the orrery binary runs")
}

/// `orrery serve` running, with the address it printed first.
struct Served {
    child: Child,
    address: String,
}

fn serve(extra: &[&str], token: Option<&str>) -> Served {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orrery"));
    command
        .args(["serve", SCENARIO, "--seed", "4"])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("ORRERY_CONTROL_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(token) = token {
        command.env("ORRERY_CONTROL_TOKEN", token);
    }
    let mut child = command.spawn().expect("orrery serve starts");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped");
    BufReader::new(stdout).read_line(&mut line).expect("reads the address");
    let address = line.trim().to_string();
    assert!(address.parse::<std::net::SocketAddr>().is_ok(), "first line: {line:?}");
    Served { child, address }
}

fn ctl(served: &Served, op: &[&str], token: Option<&str>) -> (i32, serde_json::Value, String) {
    let args: Vec<&str> =
        ["ctl", served.address.as_str()].into_iter().chain(op.iter().copied()).collect();
    let output = orrery(&args, token);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = stdout.lines().last().and_then(|line| serde_json::from_str(line).ok());
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap_or(-1), json.unwrap_or(serde_json::Value::Null), stderr)
}

fn shut_down(mut served: Served, token: Option<&str>) {
    let (code, reply, _) = ctl(&served, &["shutdown"], token);
    assert_eq!((code, reply["done"].as_bool()), (0, Some(true)));
    let status = served.child.wait().expect("the server exits");
    assert!(status.success(), "serve exits 0 after shutdown: {status}");
}

// Proves the cluster script against the simulated backend through the binaries: every step
// answers with the state it should, exit codes follow the verdicts.
#[test]
fn the_cluster_script_runs_through_serve_and_ctl() {
    let served = serve(&[], None);
    let (code, ping, _) = ctl(&served, &["ping"], None);
    assert_eq!(
        (code, ping["world_id"].as_str(), ping["time_ns"].as_u64()),
        (0, Some("echo-smoke@4"), Some(0))
    );
    let (code, started, _) = ctl(&served, &["start"], None);
    assert_eq!((code, started["state"].as_str()), (0, Some("running")));
    let (code, healthy, _) = ctl(&served, &["wait-healthy", "10s"], None);
    assert_eq!((code, healthy["healthy"].as_bool()), (0, Some(true)), "{healthy}");
    let (code, paused, _) = ctl(&served, &["pause", "1"], None);
    assert_eq!((code, paused["nodes"][1]["status"].as_str()), (0, Some("paused")));
    let (code, health, _) = ctl(&served, &["health"], None);
    assert_eq!((code, health["healthy"].as_bool()), (1, Some(false)), "unhealthy exits 1");
    let (code, _, _) = ctl(&served, &["partition", "0,1,2", "3,4"], None);
    assert_eq!(code, 0);
    let time = healthy["time_ns"].as_u64().expect("a time") + 50_000_000;
    let (code, ran, _) = ctl(&served, &["run-until", &format!("{time}ns")], None);
    assert_eq!((code, ran["time_ns"].as_u64()), (0, Some(time)));
    let (code, _, _) = ctl(&served, &["heal"], None);
    assert_eq!(code, 0);
    let (code, status, _) = ctl(&served, &["status"], None);
    assert_eq!((code, status["state"].as_str()), (0, Some("running")));
    assert!(status["counters"]["messages_dropped"].as_u64() > Some(0), "{status}");
    let (code, error, stderr) = ctl(&served, &["resume", "9"], None);
    assert_eq!((code, error), (2, serde_json::Value::Null));
    assert!(stderr.contains("not_found: no node 9"), "{stderr}");
    let (code, stop, _) = ctl(&served, &["stop"], None);
    assert_eq!((code, stop["status"]["state"].as_str()), (0, Some("stopped")), "{stop}");
    assert_eq!(stop["verdicts"].as_array().map(Vec::len), Some(2));
    shut_down(served, None);
}

// Proves a non-loopback server needs a token to start, and then serves only clients that
// present it (from the environment or a file).
#[test]
fn a_non_loopback_server_requires_its_token() {
    let refused = orrery(&["serve", SCENARIO, "--listen", "0.0.0.0:0"], None);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("a token is required"));
    let served = serve(&["--listen", "0.0.0.0:0"], Some("hunter2"));
    let port = served.address.rsplit(':').next().expect("a port").to_string();
    let local = Served { child: served.child, address: format!("127.0.0.1:{port}") };
    let (code, _, stderr) = ctl(&local, &["ping"], None);
    assert_eq!(code, 2);
    assert!(stderr.contains("unauthorized"), "{stderr}");
    let (code, _, stderr) = ctl(&local, &["ping"], Some("wrong"));
    assert!(code == 2 && stderr.contains("unauthorized"), "{stderr}");
    let file = std::env::temp_dir().join(format!("orrery-token-{}", std::process::id()));
    std::fs::write(&file, "hunter2\n").expect("writes the token file");
    let file_arg = file.display().to_string();
    let (code, ping, _) = ctl(&local, &["--token-file", &file_arg, "ping"], None);
    assert_eq!((code, ping["seed"].as_u64()), (0, Some(4)));
    let _ = std::fs::remove_file(&file);
    shut_down(local, Some("hunter2"));
}

// Proves the Python client (standard library only) against the real server: its own tests.
#[test]
fn the_python_client_passes_its_tests() {
    let python = Command::new("python3").arg("--version").output();
    assert!(
        python.is_ok_and(|output| output.status.success()),
        "this test runs the Python client: install python3 (apt-get install -y python3)"
    );
    let output = Command::new("python3")
        .arg("clients/python/test_orrery_ctl.py")
        .arg(env!("CARGO_BIN_EXE_orrery"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the Python client's tests failed:\n{text}");
    assert!(text.contains("Ran 4 tests"), "{text}");
}
