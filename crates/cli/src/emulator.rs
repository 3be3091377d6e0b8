//! `personalize-refresh emulator`: the local AWS endpoint as a long-running process.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use local_endpoint::{Endpoint, Settings};
use local_personalize::Durations;
use sim_clock::Clock;

/// Options of `personalize-refresh emulator`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port. The address bound is printed.
    #[arg(long, default_value = "127.0.0.1:4566")]
    bind: SocketAddr,

    /// Folder for the endpoint's state (the Personalize database and the clock).
    #[arg(long, default_value = concat!(".personalize-refresh", "/state"))]
    state_dir: PathBuf,

    /// Folder that holds S3: `s3://bucket/key` is the file `<s3-root>/bucket/key`.
    #[arg(long, default_value = concat!(".personalize-refresh", "/s3"))]
    s3_root: PathBuf,

    /// How many times faster than real time simulated time runs (jobs, statuses).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,

    /// JSON file replacing the lifecycle durations, in simulated seconds (any part of
    /// `{"datasetGroup": {"pendingSeconds", "inProgressSeconds"}, "dataset": {..},
    /// "import": {"pendingSeconds", "baseSeconds", "secondsPerThousandRows"}, "delete": {..}}`).
    #[arg(long)]
    durations: Option<PathBuf>,
}

/// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight and exits.
pub fn run(args: Args) -> anyhow::Result<()> {
    let durations = match &args.durations {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str::<Durations>(&text)
                .with_context(|| format!("{} is not a durations model", path.display()))?
        }
        None => Durations::default(),
    };
    std::fs::create_dir_all(&args.state_dir).with_context(|| {
        format!(
            "cannot create the state folder {}",
            args.state_dir.display()
        )
    })?;
    let clock = Clock::scaled_persisted(args.speed, &args.state_dir.join("clock.json"))
        .context("cannot start the simulated clock")?;
    let settings = Settings {
        state_dir: Some(args.state_dir.clone()),
        s3_root: args.s3_root.clone(),
        durations,
    };
    let endpoint = Endpoint::open(settings, clock).context("cannot open the endpoint")?;

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("cannot listen on {}", args.bind))?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "listening beyond loopback: the endpoint checks no credentials");
        }
        let banner = format!(
            "listening on http://{addr}\n  AWS_ENDPOINT_URL=http://{addr} (S3 clients: path-style addressing)\n  state: {}  s3: {}  speed: {}x\n",
            args.state_dir.display(),
            args.s3_root.display(),
            args.speed
        );
        // Whoever started the server may read the first line and close the pipe; a server
        // must not die of that.
        let mut stdout = std::io::stdout().lock();
        if let Err(err) = stdout.write_all(banner.as_bytes()).and_then(|()| stdout.flush()) {
            tracing::warn!(%err, "cannot print the address to standard output");
        }
        drop(stdout);
        endpoint.serve(listener, stop_signal()).await.context("the endpoint failed")?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })
}

/// Completes on Ctrl-C or SIGTERM.
async fn stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(err) => {
                    tracing::warn!(%err, "cannot listen for SIGTERM; stop with Ctrl-C");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("stopping: finishing requests in flight");
}
