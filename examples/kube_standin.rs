//! Run the Kubernetes API stand-in the tests use, by hand: point `kubectl` or `helm` at
//! it from a shell to debug an interaction, or to check the stand-in with another client.
//!
//!     cargo run --example kube_standin -- [--port 8080] [--kubeconfig PATH] [--behaviour crash-loop] [--quiet]
//!
//! It prints the kubeconfig to export and the knobs, logs every request to stderr, and
//! serves until interrupted.

use std::path::PathBuf;

use kube_standin::{BEHAVIOUR_ANNOTATION, Behaviour, OBSERVE_DELAY_ANNOTATION, Options, Standin};

fn usage() -> ! {
    eprintln!(
        "usage: kube_standin [--port N] [--kubeconfig PATH] [--behaviour healthy-after=300ms|crash-loop|image-pull-backoff|progress-deadline=2s] [--observe-delay 20ms] [--quiet]"
    );
    std::process::exit(2)
}

fn main() {
    let mut options = Options::default();
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        let mut value = || arguments.next().unwrap_or_else(|| usage());
        match argument.as_str() {
            "--port" => options.port = value().parse().unwrap_or_else(|_| usage()),
            "--kubeconfig" => options.kubeconfig = Some(PathBuf::from(value())),
            "--behaviour" => {
                options.knobs.behaviour = Behaviour::parse(&value()).unwrap_or_else(|error| {
                    eprintln!("{error}");
                    usage()
                })
            }
            "--observe-delay" => {
                options.knobs.observe_delay = kube_standin::parse_duration(&value()).unwrap_or_else(|error| {
                    eprintln!("{error}");
                    usage()
                })
            }
            "--quiet" => options.verbose = false,
            _ => usage(),
        }
    }
    let knobs = options.knobs.clone();
    let standin = match Standin::start_with(options) {
        Ok(standin) => standin,
        Err(error) => {
            eprintln!("cannot start the stand-in: {error}");
            std::process::exit(1)
        }
    };
    println!("Kubernetes API stand-in at {}", standin.url());
    println!();
    println!("    export KUBECONFIG={}", standin.kubeconfig().display());
    println!("    kubectl get namespaces");
    println!("    helm install web ./chart --namespace default");
    println!();
    println!("Controller knobs:");
    println!(
        "  default behaviour: {:?}; the controller notices spec changes after {:?}",
        knobs.behaviour, knobs.observe_delay
    );
    println!("  per workload, as an annotation on it or on its pod template:");
    println!(
        "    {BEHAVIOUR_ANNOTATION}: healthy-after=300ms | crash-loop | image-pull-backoff | progress-deadline=2s"
    );
    println!("    {OBSERVE_DELAY_ANNOTATION}: 300ms");
    println!();
    println!("Requests are logged to stderr (--quiet turns that off). Ctrl-C stops it.");
    loop {
        std::thread::park();
    }
}
