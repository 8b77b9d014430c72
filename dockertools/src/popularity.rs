//! nixpkgs' `referencesByPopularity` and the layer plan of `buildLayeredImage`.

use anyhow::{bail, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A node of the closure graph: a logical store path and the store paths it references.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    pub path: &'a str,
    pub references: &'a [String],
}

/// The key nixpkgs sorts equally popular paths by: the name first, the hash last.
fn package_name(path: &str) -> String {
    let mut parts: Vec<&str> = path.split('-').collect();
    let first = parts.remove(0);
    parts.push(first);
    parts.join("-")
}

/// Order the closure by popularity, most popular first, as nixpkgs'
/// `pkgs/build-support/references-by-popularity/closure-graph.py` does.
pub fn order_by_popularity(nodes: &[Node]) -> Result<Vec<String>> {
    let known: BTreeSet<&str> = nodes.iter().map(|n| n.path).collect();
    let lookup: HashMap<&str, Vec<&str>> = nodes
        .iter()
        .map(|n| {
            let mut refs: Vec<&str> = n
                .references
                .iter()
                .map(String::as_str)
                .filter(|r| *r != n.path && known.contains(r))
                .collect();
            refs.sort();
            refs.dedup();
            (n.path, refs)
        })
        .collect();
    let referenced: BTreeSet<&str> = lookup.values().flatten().copied().collect();
    let roots: Vec<&str> = nodes
        .iter()
        .map(|n| n.path)
        .filter(|p| !referenced.contains(p))
        .collect();

    // contest(p): popularity of everything below p (p excluded), memoised.
    fn contest<'a>(
        p: &'a str,
        lookup: &HashMap<&'a str, Vec<&'a str>>,
        cache: &mut HashMap<&'a str, BTreeMap<&'a str, u64>>,
        visiting: &mut BTreeSet<&'a str>,
    ) -> Result<BTreeMap<&'a str, u64>> {
        if let Some(c) = cache.get(p) {
            return Ok(c.clone());
        }
        if !visiting.insert(p) {
            bail!("reference cycle in the closure graph at {p}");
        }
        let mut pop: BTreeMap<&str, u64> = BTreeMap::new();
        for child in &lookup[p] {
            *pop.entry(child).or_default() += 1;
            for (sp, sv) in contest(child, lookup, cache, visiting)? {
                *pop.entry(sp).or_default() += sv + 1;
            }
        }
        visiting.remove(p);
        cache.insert(p, pop.clone());
        Ok(pop)
    }

    let mut cache = HashMap::new();
    let mut visiting = BTreeSet::new();
    let mut popularity: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &roots {
        *popularity.entry(r).or_default() += 1;
        for (sp, sv) in contest(r, &lookup, &mut cache, &mut visiting)? {
            *popularity.entry(sp).or_default() += sv + 1;
        }
    }
    if popularity.len() != nodes.len() {
        // Only possible with a cycle that has no root.
        bail!("reference cycle in the closure graph");
    }
    let mut by_pop: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    for (p, v) in &popularity {
        by_pop.entry(*v).or_default().push(p);
    }
    let mut out = Vec::new();
    for (_, mut paths) in by_pop.into_iter().rev() {
        paths.sort_by_key(|p| package_name(p));
        out.extend(paths.into_iter().map(str::to_string));
    }
    Ok(out)
}

/// How the closure is split over layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerPlan {
    /// One entry per store layer, in order (most popular first).
    pub store_layers: Vec<Vec<String>>,
    /// Store paths that go into the final (customisation) layer, sorted.
    pub customisation_paths: Vec<String>,
}

/// Plan the layers of a layered image.
///
/// * Paths are ordered by popularity; the first `available - 1` get a layer each and the
///   rest share one layer (nixpkgs' rule), where `available` is the number of store layers
///   allowed.
/// * Small "top" paths go into the customisation layer with the root's symlink farm: a path
///   whose size is at most `small` and which is referenced only by the farm (it is one of
///   `roots`, the contents) or by paths already in the customisation layer. Editing an
///   application's source thus changes one layer: its store path, the `buildEnv` around
///   it and the farm pointing to them are all in that layer.
pub fn plan_layers(
    nodes: &[Node],
    roots: &[String],
    available: usize,
    small: u64,
    size_of: &dyn Fn(&str) -> Result<u64>,
) -> Result<LayerPlan> {
    let order = order_by_popularity(nodes)?;
    let mut referrers: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for n in nodes {
        referrers.entry(n.path).or_default();
        for r in n.references {
            if r != n.path {
                referrers.entry(r.as_str()).or_default().insert(n.path);
            }
        }
    }
    let root_set: BTreeSet<&str> = roots.iter().map(String::as_str).collect();
    let mut custom: BTreeSet<&str> = BTreeSet::new();
    let mut sizes: HashMap<&str, u64> = HashMap::new();
    loop {
        let mut changed = false;
        for n in nodes {
            if custom.contains(n.path) {
                continue;
            }
            let refs = &referrers[n.path];
            let reachable_from_custom = root_set.contains(n.path) || !refs.is_empty();
            if !reachable_from_custom || !refs.iter().all(|r| custom.contains(r)) {
                continue;
            }
            let size = match sizes.get(n.path) {
                Some(s) => *s,
                None => {
                    let s = size_of(n.path)?;
                    sizes.insert(n.path, s);
                    s
                }
            };
            if size <= small {
                custom.insert(n.path);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let rest: Vec<String> = order
        .into_iter()
        .filter(|p| !custom.contains(p.as_str()))
        .collect();
    let mut store_layers: Vec<Vec<String>> = Vec::new();
    if !rest.is_empty() {
        if available == 0 {
            bail!("no layer left for the store paths (maxLayers too small for the base image)");
        }
        let singles = (available - 1).min(rest.len());
        for p in &rest[..singles] {
            store_layers.push(vec![p.clone()]);
        }
        if rest.len() > singles {
            store_layers.push(rest[singles..].to_vec());
        }
    }
    Ok(LayerPlan {
        store_layers,
        customisation_paths: custom.into_iter().map(str::to_string).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n<'a>(path: &'a str, refs: &'a [String]) -> Node<'a> {
        Node {
            path,
            references: refs,
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn nixpkgs_example_graph() {
        // The example of closure-graph.py: A-B-C-D-F, C-E-F, B-E, A-G.
        let a = s(&["B", "G"]);
        let b = s(&["C", "E"]);
        let c = s(&["D", "E"]);
        let d = s(&["F"]);
        let e = s(&["F"]);
        let none: Vec<String> = vec![];
        let nodes = vec![
            n("A", &a),
            n("B", &b),
            n("C", &c),
            n("D", &d),
            n("E", &e),
            n("F", &none),
            n("G", &none),
        ];
        // Popularities from the script's comment: A1 B2 C3 D4 E5 F9 G2
        // (its picture is drawn with E under C only; here B also refers to E, as in the
        // script's first graph, which raises E and F).
        let order = order_by_popularity(&nodes).unwrap();
        assert_eq!(order.first().unwrap(), "F");
        assert_eq!(order.last().unwrap(), "A");
        assert_eq!(order.len(), 7);
    }

    #[test]
    fn matches_script_unit_test() {
        // TestGraphPopularityContest: foo -> bar, baz; bar -> baz; baz -> tux
        let foo = s(&["/nix/store/bar", "/nix/store/baz"]);
        let bar = s(&["/nix/store/baz"]);
        let baz = s(&["/nix/store/tux"]);
        let none: Vec<String> = vec![];
        let nodes = vec![
            n("/nix/store/foo", &foo),
            n("/nix/store/bar", &bar),
            n("/nix/store/baz", &baz),
            n("/nix/store/tux", &none),
        ];
        // foo 1, bar 2, baz 4, tux 6
        assert_eq!(
            order_by_popularity(&nodes).unwrap(),
            s(&[
                "/nix/store/tux",
                "/nix/store/baz",
                "/nix/store/bar",
                "/nix/store/foo"
            ])
        );
    }

    #[test]
    fn equal_popularity_sorted_by_name_not_hash() {
        let root = s(&["/nix/store/zzz-alpha", "/nix/store/aaa-beta"]);
        let none: Vec<String> = vec![];
        let nodes = vec![
            n("/nix/store/r-root", &root),
            n("/nix/store/zzz-alpha", &none),
            n("/nix/store/aaa-beta", &none),
        ];
        assert_eq!(
            order_by_popularity(&nodes).unwrap(),
            s(&[
                "/nix/store/zzz-alpha",
                "/nix/store/aaa-beta",
                "/nix/store/r-root"
            ])
        );
    }

    #[test]
    fn cycle_is_an_error() {
        let a = s(&["b"]);
        let b = s(&["a"]);
        let nodes = vec![n("a", &a), n("b", &b)];
        assert!(order_by_popularity(&nodes).is_err());
    }

    #[test]
    fn plan_puts_small_top_paths_in_customisation_layer() {
        // env (small) -> app (small), python (big) -> libc (big)
        let env = s(&["/nix/store/h1-app", "/nix/store/h2-python"]);
        let py = s(&["/nix/store/h3-libc"]);
        let none: Vec<String> = vec![];
        let nodes = vec![
            n("/nix/store/h0-env", &env),
            n("/nix/store/h1-app", &none),
            n("/nix/store/h2-python", &py),
            n("/nix/store/h3-libc", &none),
        ];
        let size = |p: &str| -> Result<u64> {
            Ok(if p.contains("python") || p.contains("libc") {
                10_000_000
            } else {
                100
            })
        };
        let plan = plan_layers(&nodes, &s(&["/nix/store/h0-env"]), 10, 1 << 20, &size).unwrap();
        assert_eq!(
            plan.customisation_paths,
            s(&["/nix/store/h0-env", "/nix/store/h1-app"])
        );
        assert_eq!(
            plan.store_layers,
            vec![s(&["/nix/store/h3-libc"]), s(&["/nix/store/h2-python"])]
        );
        // With two store layers allowed, the last one takes the rest.
        let plan = plan_layers(&nodes, &s(&["/nix/store/h0-env"]), 1, 1 << 20, &size).unwrap();
        assert_eq!(
            plan.store_layers,
            vec![s(&["/nix/store/h3-libc", "/nix/store/h2-python"])]
        );
    }
}
