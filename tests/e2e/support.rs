//! Test support: the local AWS emulator as a child process, its control API, and a
//! way to run the built `shipwatch` binary against it with only AWS_ENDPOINT_URL.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running emulator; killed when dropped, even when the test panics.
pub struct LocalAws {
    child: Child,
    pub endpoint: String,
    pub stack: Value,
    pub dir: tempfile::TempDir,
}

impl LocalAws {
    /// Starts the emulator with a provisioned sample stack; one emulated minute lasts
    /// `seconds_per_minute` real seconds.
    pub fn start(seconds_per_minute: f64) -> LocalAws {
        let root = repo_root();
        let python = root.join(".tools/venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run scripts/setup.sh (scripts/test.sh does) to install the local AWS emulator",
            python.display()
        );
        let mut child = Command::new(&python)
            .args([
                "-m",
                "localaws",
                "serve",
                "--port",
                "0",
                "--seconds-per-minute",
                &seconds_per_minute.to_string(),
                "--provision",
                "web",
            ])
            .env("PYTHONPATH", root.join("tests/localaws"))
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the local AWS emulator");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        let n = reader.read_line(&mut line).unwrap_or(0);
        if n == 0 {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let _ = child.kill();
            panic!("the local AWS emulator exited before it was ready:\n{err}");
        }
        // Keep draining both pipes so the emulator never blocks on a full pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        if let Some(e) = child.stderr.take() {
            std::thread::spawn(move || for _ in BufReader::new(e).lines() {});
        }
        let ready: Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("bad ready line {line:?}: {e}"));
        let endpoint = ready["endpoint"].as_str().expect("endpoint").to_owned();
        let stack = ready["stack"]
            .get("web")
            .cloned()
            .unwrap_or_else(|| ready["stack"].clone());
        LocalAws {
            child,
            endpoint,
            stack,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn s(&self, key: &str) -> String {
        self.stack[key]
            .as_str()
            .unwrap_or_else(|| panic!("stack has no string `{key}`: {}", self.stack))
            .to_owned()
    }

    /// POSTs JSON to the emulator's control API.
    pub fn control(&self, path: &str, body: &Value) -> Value {
        http(&self.endpoint, "POST", path, Some(body))
    }

    pub fn get(&self, path: &str) -> Value {
        http(&self.endpoint, "GET", path, None)
    }

    /// Pushes an image tagged `tag` whose green tasks behave as `scenario`.
    pub fn push_image(&self, tag: &str, scenario: &str) {
        self.control("/_localaws/image", &serde_json::json!({"repository": self.s("repository"), "tag": tag, "scenario": scenario}));
    }

    /// Writes a shipwatch.toml for the provisioned stack; `extra` is appended.
    pub fn write_config(&self, extra: &str) -> PathBuf {
        let path = self.dir.path().join("shipwatch.toml");
        let text = format!(
            r#"[service]
region = "{region}"
cluster = "{cluster}"
service = "{service}"
container = "{container}"
port = {port}

[image]
repository = "{repository}"

[task_definition]
mode = "current"

[codedeploy]
application = "{application}"
deployment_group = "{group}"

[watch]
poll_interval = "0.3s"
alarm_poll_interval = "0.3s"
heartbeat = "5s"
state_file = "{dir}/deploy-state.json"

[report]
output_dir = "{dir}/report"
jaeger_url = "{endpoint}"
{extra}
"#,
            region = self.s("region"),
            cluster = self.s("cluster"),
            service = self.s("service"),
            container = self.s("container"),
            port = self.stack["port"],
            repository = self.s("repository"),
            application = self.s("application"),
            group = self.s("deployment_group"),
            dir = self.dir.path().display(),
            endpoint = self.endpoint,
        );
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// A `shipwatch` command that reaches the emulator through AWS_ENDPOINT_URL only.
    pub fn shipwatch(&self, config: &Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_shipwatch"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", self.s("region"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("SHIPWATCH_CONFIG", config)
            .current_dir(self.dir.path());
        c
    }

    /// Waits until this emulator has seen `operation` called, then sends SIGTERM to
    /// `child` (spawned with piped output): a Jenkins abort while that call is in flight.
    /// Returns the child's output.
    pub fn sigterm_during(&self, child: Child, operation: &str, limit: Duration) -> Output {
        self.wait_for_call(operation, limit);
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        child.wait_with_output().unwrap()
    }

    /// Kills the emulator at once (SIGKILL): the endpoint then refuses connections.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sets fault rules (see tests/localaws/README.md, "Faults and call counts").
    pub fn faults(&self, rules: Value) -> Value {
        self.control(
            "/_localaws/faults",
            &serde_json::json!({"rules": rules, "seed": 7}),
        )
    }

    /// How many calls of `op` (`service.Operation`) the emulator has received.
    pub fn count(&self, op: &str) -> u64 {
        self.calls().get(op).and_then(|v| v.as_u64()).unwrap_or(0)
    }

    /// Waits until the emulator has received a call of `op`.
    pub fn wait_for_call(&self, op: &str, limit: Duration) {
        let t0 = Instant::now();
        while self.count(op) == 0 {
            assert!(t0.elapsed() < limit, "no {op} call within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Call counts per `service.Operation`.
    pub fn calls(&self) -> Value {
        self.get("/_localaws/calls")["calls"].clone()
    }
}

impl Drop for LocalAws {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 client for the control API (JSON in, JSON out).
pub fn http(endpoint: &str, method: &str, path: &str, body: Option<&Value>) -> Value {
    let hostport = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(hostport).expect("connect to the emulator");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    )
    .expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    assert!(
        (200..300).contains(&status),
        "{method} {path} → {head}\n{body}"
    );
    // Chunked bodies are not expected from the control API; parse what came.
    serde_json::from_str(body.trim()).unwrap_or(Value::Null)
}

/// Runs a command and returns its output, failing the test if it runs past `limit`.
pub fn run(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shipwatch");
    let out_pipe = child.stdout.take().unwrap();
    let err_pipe = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        BufReader::new(out_pipe).read_to_end(&mut v).ok();
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        BufReader::new(err_pipe).read_to_end(&mut v).ok();
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).to_string();
            panic!("shipwatch did not finish within {limit:?}; stderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "--- exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The last JSON object line on stdout (the summary with `--output json`).
pub fn summary(o: &Output) -> Value {
    let out = String::from_utf8_lossy(&o.stdout);
    out.lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(|v| v.get("outcome").is_some() || v.get("error").is_some())
        })
        .unwrap_or_else(|| panic!("no JSON summary on stdout:\n{}", text(o)))
}

/// A random 40-hex sha so tests never collide.
pub fn random_sha() -> String {
    let mut bytes = [0u8; 20];
    let f =
        std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes).map(|_| ()));
    f.expect("read /dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
