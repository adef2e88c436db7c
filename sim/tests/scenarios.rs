//! Every built-in scenario, at 10 nodes, must meet every success criterion
//! (what CI runs; the 100-node runs are `ippoc-sim --scenario <name>`).

mod common;

use common::check;
use ippoc_sim::Scenario;
use ippoc_sim::scenario::BUILT_IN;

macro_rules! scenario_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                check($name).await;
            }
        )*
        #[test]
        fn every_built_in_scenario_has_a_test() {
            // `spam` runs in its own test binary (`spam_scenario.rs`).
            let tested = [$($name,)* "spam"];
            for (name, _) in BUILT_IN {
                assert!(tested.contains(&name), "no test runs scenario {name}");
            }
        }
    };
}

scenario_tests! {
    baseline => "baseline",
    a_bankruptcy => "bankruptcy",
    b_byzantine => "byzantine",
    c_clone => "clone",
    d_bad_evolution => "bad-evolution",
    e_partition => "partition",
    churn => "churn",
    wan => "wan",
    integrity => "integrity",
    appeal => "appeal",
    economy => "economy",
    all => "all",
}

#[test]
fn a_scenario_with_a_typo_or_an_out_of_range_value_is_refused_with_its_name() {
    let typo = Scenario::from_toml("name = \"x\"\n[[phases]]\nname = \"p\"\ntransfer = 3\n", "typo.toml").unwrap_err();
    assert!(typo.contains("typo.toml") && typo.contains("transfer"), "{typo}");
    let range = Scenario::from_toml("name = \"x\"\n[[phases]]\nname = \"p\"\nforgers = 0.9\n", "r.toml").unwrap_err();
    assert!(range.contains("forgers"), "{range}");
    let links = Scenario::from_toml(
        "name = \"x\"\n[network]\nlatency_ms = [80, 5]\n[[phases]]\nname = \"p\"\n",
        "n.toml",
    )
    .unwrap_err();
    assert!(links.contains("latency_ms"), "{links}");
    let appeal = Scenario::from_toml("name = \"x\"\n[[phases]]\nname = \"p\"\nappeal = true\n", "a.toml").unwrap_err();
    assert!(appeal.contains("needs dao = true"), "{appeal}");
    assert!(
        Scenario::load("no-such-scenario")
            .unwrap_err()
            .contains("built-in scenarios")
    );
}
