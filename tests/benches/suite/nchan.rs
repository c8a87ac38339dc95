//! Nchan (nginx's pub/sub module) as a third server: the same idle stream
//! as `/idle`, served by one nginx process with `nchan_subscriber
//! eventsource`, so tiny's memory per stream is compared with a C server
//! built for exactly this, in the same run, with the same client.
//!
//! Debian: `apt-get install nginx libnginx-mod-nchan` (nginx 1.22, Nchan
//! 1.3.6). Without them the suite leaves the Nchan column out.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian (and nginx's own packages) put the module.
const MODULES: &[&str] = &[
    "/usr/lib/nginx/modules/ngx_nchan_module.so",
    "/usr/lib64/nginx/modules/ngx_nchan_module.so",
    "/usr/local/nginx/modules/ngx_nchan_module.so",
];

/// nginx and the Nchan module, when both are installed.
#[derive(Debug, Clone)]
pub struct Installed {
    nginx: PathBuf,
    module: PathBuf,
}

/// Finds nginx (`PATH`, else `/usr/sbin`) and the module.
pub fn installed() -> Option<Installed> {
    let nginx = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())?;
    let module = MODULES.iter().map(PathBuf::from).find(|m| m.is_file())?;
    Some(Installed { nginx, module })
}

/// The configuration: one process (`master_process off`, so the process
/// started is the one serving and its RSS is the server's), descriptors and
/// connections for the idle scenario's 19 000 streams with room to spare
/// (at 20 000 nginx already warned it was reusing connections), no logs.
fn config(installed: &Installed, dir: &Path, addr: SocketAddr) -> String {
    let dir = dir.display();
    format!(
        "load_module {module};\n\
         daemon off;\n\
         master_process off;\n\
         worker_processes 1;\n\
         worker_rlimit_nofile 40000;\n\
         error_log stderr warn;\n\
         pid {dir}/nginx.pid;\n\
         events {{ worker_connections 40000; }}\n\
         http {{\n\
         \x20 access_log off;\n\
         \x20 client_body_temp_path {dir}/body;\n\
         \x20 proxy_temp_path {dir}/proxy;\n\
         \x20 fastcgi_temp_path {dir}/fastcgi;\n\
         \x20 uwsgi_temp_path {dir}/uwsgi;\n\
         \x20 scgi_temp_path {dir}/scgi;\n\
         \x20 server {{\n\
         \x20   listen {addr} backlog=4096;\n\
         \x20   location /idle {{ nchan_subscriber eventsource; nchan_channel_id idle; }}\n\
         \x20 }}\n\
         }}\n",
        module = installed.module.display(),
    )
}

/// Starts nginx on a free loopback port and waits until it accepts.
pub fn start(installed: &Installed) -> (Child, SocketAddr) {
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let dir = std::env::current_exe()
        .expect("own path")
        .parent()
        .and_then(Path::parent)
        .expect("the target directory")
        .join(format!("suite-nchan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("nginx directory");
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, config(installed, &dir, addr)).expect("write nginx.conf");
    let child = Command::new(&installed.nginx)
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start nginx");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "nginx did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, addr)
}
