//! Every node's final metrics in one exposition (`metrics.prom` in the run
//! directory): the names a daemon serves, each sample labelled with its
//! `node` (`node-0007`), so the Grafana dashboard's queries and the alert
//! rules work on a simulated swarm loaded into Prometheus
//! (docs/metrics.md, "The simulator"). The sandbox, shared by every node of
//! the process, appears once without a `node` label.

use std::collections::BTreeMap;

/// Merges `nodes` (a node's name, its OpenMetrics text) and the unlabelled
/// `shared` exposition into one classic text exposition: one HELP and TYPE
/// per family, then every node's samples of it.
pub fn merge(nodes: &[(String, String)], shared: &str) -> String {
    // Family name → (its HELP and TYPE lines, samples), in first-seen order.
    let mut order: Vec<String> = Vec::new();
    let mut families: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut add = |text: &str, node: Option<&str>| {
        let classic = ippoc_node::metrics::classic(text);
        let mut current: Option<String> = None;
        for line in classic.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or_default().to_string();
                if !families.contains_key(&name) {
                    order.push(name.clone());
                    families.insert(name.clone(), (format!("{line}\n"), Vec::new()));
                }
                current = Some(name);
            } else if line.starts_with("# TYPE ") {
                if let Some(f) = current.as_ref().and_then(|n| families.get_mut(n))
                    && !f.0.contains("# TYPE ")
                {
                    f.0.push_str(line);
                    f.0.push('\n');
                }
            } else if !line.starts_with('#')
                && !line.is_empty()
                && let Some(f) = current.as_ref().and_then(|n| families.get_mut(n))
            {
                f.1.push(match node {
                    Some(node) => labelled(line, node),
                    None => line.to_string(),
                });
            }
        }
    };
    for (node, text) in nodes {
        add(text, Some(node));
    }
    add(shared, None);
    let mut out = String::new();
    for name in order {
        let (head, samples) = &families[&name];
        out.push_str(head);
        for s in samples {
            out.push_str(s);
            out.push('\n');
        }
    }
    out
}

/// A classic sample line with `node="<node>"` as its first label.
fn labelled(sample: &str, node: &str) -> String {
    match sample.find(['{', ' ']) {
        Some(i) if sample[i..].starts_with("{}") => format!("{}{{node=\"{node}\"}}{}", &sample[..i], &sample[i + 2..]),
        Some(i) if sample[i..].starts_with('{') => format!("{}{{node=\"{node}\",{}", &sample[..i], &sample[i + 1..]),
        Some(i) => format!("{}{{node=\"{node}\"}}{}", &sample[..i], &sample[i..]),
        None => sample.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_merge_with_a_node_label_on_every_sample() {
        let a = "# HELP x_runs Runs.\n# TYPE x_runs counter\nx_runs_total{o=\"ok\"} 1\n# HELP y Y.\n# TYPE y gauge\ny 2.0\n# EOF\n";
        let b = "# HELP x_runs Runs.\n# TYPE x_runs counter\nx_runs_total{o=\"ok\"} 3\n# HELP y Y.\n# TYPE y gauge\ny 4.0\n# EOF\n";
        let shared = "# HELP z Z.\n# TYPE z gauge\nz 5.0\n# EOF\n";
        let merged = merge(
            &[("node-0000".into(), a.into()), ("node-0001".into(), b.into())],
            shared,
        );
        assert_eq!(
            merged,
            "# HELP x_runs_total Runs.\n# TYPE x_runs_total counter\n\
             x_runs_total{node=\"node-0000\",o=\"ok\"} 1\nx_runs_total{node=\"node-0001\",o=\"ok\"} 3\n\
             # HELP y Y.\n# TYPE y gauge\ny{node=\"node-0000\"} 2.0\ny{node=\"node-0001\"} 4.0\n\
             # HELP z Z.\n# TYPE z gauge\nz 5.0\n"
        );
    }
}
