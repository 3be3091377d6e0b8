//! Describe requests per second on loopback: DescribeDatasetGroup over HTTP/1.1 keep-alive
//! connections from a client in the same process, the endpoint on its own runtime threads.
//!
//! Prints the rate over a fixed number of requests; the target on a 2-core machine is at
//! least 5,000 requests per second.

use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use local_endpoint::{Endpoint, Settings};
use sim_clock::Clock;

const CONNECTIONS: usize = 8;
const REQUESTS_PER_CONNECTION: usize = 5_000;
const TARGET_PER_SECOND: f64 = 5_000.0;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let endpoint = Endpoint::open(
        Settings::on_disk(dir.path().join("state"), dir.path().join("s3")),
        Clock::virtual_at(SystemTime::now()),
    )
    .expect("the endpoint opens");
    let running = endpoint
        .start("127.0.0.1:0".parse().expect("an address"))
        .await
        .expect("the endpoint binds");
    let group = running
        .personalize()
        .call(
            "us-east-1",
            "CreateDatasetGroup",
            &serde_json::json!({ "name": "bench" }),
        )
        .expect("a dataset group");
    let body =
        Bytes::from(serde_json::json!({ "datasetGroupArn": group["datasetGroupArn"] }).to_string());

    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let url = running.url();
    let request = move || {
        http::Request::post(&url)
            .header("x-amz-target", "AmazonPersonalize.DescribeDatasetGroup")
            .header("content-type", "application/x-amz-json-1.1")
            .body(Full::new(body.clone()))
            .expect("a valid request")
    };

    // Warm up connections and caches.
    for _ in 0..200 {
        let response = client
            .request(request())
            .await
            .expect("the endpoint answers");
        assert!(response.status().is_success());
        response.into_body().collect().await.expect("a body");
    }

    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, request) = (client.clone(), request.clone());
        workers.push(tokio::spawn(async move {
            for _ in 0..REQUESTS_PER_CONNECTION {
                let response = client
                    .request(request())
                    .await
                    .expect("the endpoint answers");
                assert!(
                    response.status().is_success(),
                    "status {}",
                    response.status()
                );
                response.into_body().collect().await.expect("a body");
            }
        }));
    }
    for worker in workers {
        worker.await.expect("a worker finishes");
    }
    let total = CONNECTIONS * REQUESTS_PER_CONNECTION;
    let rate = total as f64 / started.elapsed().as_secs_f64();
    println!(
        "describe requests: {total} DescribeDatasetGroup over {CONNECTIONS} loopback connections"
    );
    println!("  {:>10.0} requests/s", rate);
    println!(
        "  target {:>10.0} requests/s: {}",
        TARGET_PER_SECOND,
        if rate >= TARGET_PER_SECOND {
            "met"
        } else {
            "NOT met"
        }
    );
    running.stop().await.expect("the endpoint stops");
}
