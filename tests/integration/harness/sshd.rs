//! A real OpenSSH server on 127.0.0.1 for the ssh transport tests: its own host key, config
//! and port; a client key authorised for root; a client config (with the host key pinned and
//! checking on) that `BLOCKPRINT_SSH` points the engine at.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::support::{require_root, require_tool, sh};

pub struct Sshd {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Sshd {
    pub fn start() -> Self {
        require_root("sshd");
        require_tool("ssh-keygen");
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "openssh-server is not installed; run build-aux/install-deps"
        );
        let dir = tempfile::Builder::new()
            .prefix("sshd-")
            .tempdir()
            .expect("tmp");
        let d = dir.path();
        let key = |name: &str| {
            let path = d.join(name);
            sh(
                "ssh-keygen",
                &[
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-f",
                    path.to_str().unwrap(),
                ],
            );
            path
        };
        let host_key = key("host_key");
        let client_key = key("client_key");
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        // sshd's privilege separation needs this directory.
        std::fs::create_dir_all("/run/sshd").unwrap();

        for _ in 0..10 {
            let port = free_port();
            let config = d.join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {dir}/sshd.pid\n\
                     AuthorizedKeysFile {dir}/authorized_keys\nPermitRootLogin prohibit-password\n\
                     PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                     StrictModes no\nLogLevel ERROR\n",
                    host = host_key.display(),
                    dir = d.display()
                ),
            )
            .unwrap();
            let child = Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start sshd");
            let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
            let mut fields = host_pub.split_whitespace();
            let known = format!(
                "[127.0.0.1]:{port} {} {}\n",
                fields.next().unwrap(),
                fields.next().unwrap()
            );
            std::fs::write(d.join("known_hosts"), known).unwrap();
            std::fs::write(
                d.join("ssh_config"),
                format!(
                    "Host 127.0.0.1\n  User root\n  IdentityFile {key}\n  IdentitiesOnly yes\n  \
                     UserKnownHostsFile {dir}/known_hosts\n  StrictHostKeyChecking yes\n  \
                     BatchMode yes\n  GlobalKnownHostsFile /dev/null\n",
                    key = client_key.display(),
                    dir = d.display()
                ),
            )
            .unwrap();
            let mut child = child;
            if wait_ready(&mut child, &d.join("ssh_config"), port) {
                return Sshd { child, dir, port };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("sshd did not start on a free port");
    }

    /// The value for `BLOCKPRINT_SSH`.
    pub fn command(&self) -> String {
        format!("ssh -F {}", self.dir.path().join("ssh_config").display())
    }

    /// A `BLOCKPRINT_SSH` whose client knows no key for this server: with checking on, as
    /// the engine leaves it, ssh must refuse to connect.
    pub fn command_with_unknown_host(&self) -> String {
        let config = self.dir.path().join("ssh_config_unknown_host");
        let known = std::fs::read_to_string(self.dir.path().join("ssh_config"))
            .unwrap()
            .replace(
                &format!(
                    "UserKnownHostsFile {}/known_hosts",
                    self.dir.path().display()
                ),
                "UserKnownHostsFile /dev/null",
            );
        std::fs::write(&config, known).unwrap();
        format!("ssh -F {}", config.display())
    }

    /// A directory the tests may put files in, served as-is over ssh.
    pub fn files(&self) -> PathBuf {
        let path = self.dir.path().join("files");
        std::fs::create_dir_all(&path).unwrap();
        path
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until a real login through the client config works (or sshd died).
fn wait_ready(child: &mut Child, ssh_config: &Path, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        let probe = Command::new("ssh")
            .arg("-F")
            .arg(ssh_config)
            .args(["-p", &port.to_string(), "127.0.0.1", "true"])
            .output();
        if probe.is_ok_and(|o| o.status.success()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
