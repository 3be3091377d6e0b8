//! `personalize-refresh emulator`: the local AWS endpoint as a long-running process.

use std::fs::{File, TryLockError};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    #[arg(long, default_value = ".personalize-refresh/state")]
    state_dir: PathBuf,

    /// Folder that holds S3: `s3://bucket/key` is the file `<s3-root>/bucket/key`.
    #[arg(long, default_value = ".personalize-refresh/s3")]
    s3_root: PathBuf,

    /// How many times faster than real time simulated time runs (jobs, statuses), from
    /// 0.001 to 1000000.
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
    speed: f64,

    /// JSON file changing lifecycle durations, in simulated seconds: any numbers of
    /// `{"datasetGroup": {"pendingSeconds", "inProgressSeconds"}, "dataset": {..},
    /// "import": {"pendingSeconds", "baseSeconds", "secondsPerThousandRows"}, "delete": {..}}`;
    /// the rest keep their defaults.
    #[arg(long)]
    durations: Option<PathBuf>,
}

/// The fastest simulated time may run: a year in about half a minute.
const MAX_SPEED: f64 = 1_000_000.0;

fn parse_speed(text: &str) -> Result<f64, String> {
    let speed: f64 = text
        .parse()
        .map_err(|_| format!("{text} is not a number"))?;
    if speed.is_finite() && (0.001..=MAX_SPEED).contains(&speed) {
        Ok(speed)
    } else {
        Err(format!("the speed must be from 0.001 to {MAX_SPEED}"))
    }
}

/// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight and exits.
pub fn run(args: Args) -> anyhow::Result<()> {
    let durations = match &args.durations {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Durations::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Durations::default(),
    };

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Nothing is written until the port is ours and no other emulator uses the state
        // folder: a second start by mistake must not move the first one's clock.
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("cannot listen on {}", args.bind))?;
        let addr = listener.local_addr()?;
        let _lock = lock_state_dir(&args.state_dir)?;
        let (clock, anchor) =
            Clock::scaled_persisted_unsaved(args.speed, &args.state_dir.join("clock.json"))
                .context("cannot start the simulated clock")?;
        let settings = Settings {
            state_dir: Some(args.state_dir.clone()),
            s3_root: args.s3_root.clone(),
            durations,
        };
        let endpoint = Endpoint::open(settings, clock).context("cannot open the endpoint")?;
        anchor.save().context("cannot save the simulated clock")?;

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

/// Takes the state folder for this process alone, creating it if needed. The lock is held
/// until the returned file is dropped (or the process ends, however it ends).
fn lock_state_dir(state_dir: &Path) -> anyhow::Result<File> {
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("cannot create the state folder {}", state_dir.display()))?;
    let path = state_dir.join("lock");
    let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => anyhow::bail!(
            "another emulator is using the state folder {}: stop it, or give this one its own --state-dir",
            state_dir.display()
        ),
        Err(TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
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
