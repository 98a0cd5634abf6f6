//! The planner through the public API, without a database: property tests over random DAGs of
//! sets (checked against a small independent model of the documented semantics), then every
//! target form, every planner error with its exact message, and the cross-set dependency rules.

use std::collections::{BTreeSet, HashMap};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use strata::{
    Checksum, Direction, Migration, Migrations, NORMALIZATION, PlannedStep, Record, RecordState,
    Set,
};

// ---------------------------------------------------------------------------------------------
// The model: the DAG as the documentation describes it, built from a random spec.
// ---------------------------------------------------------------------------------------------

/// Per set, per migration: the version increment from the previous one, and raw picks of
/// dependencies (resolved to migrations of sets registered earlier).
type Spec = Vec<Vec<(u64, Vec<(u8, u8)>)>>;

const SET_NAMES: [&str; 4] = ["app", "auth", "blog", "shop"];

struct Dag {
    migrations: Migrations,
    /// `(set index, version)` per node, set by set in registration order, versions ascending.
    nodes: Vec<(usize, u64)>,
    /// `set@version_name` per node.
    ids: Vec<String>,
    /// The previous migration of its set, then its dependencies.
    parents: Vec<Vec<usize>>,
    children: Vec<Vec<usize>>,
    /// Per set, its nodes in version order.
    set_nodes: Vec<Vec<usize>>,
    index: HashMap<(String, u64), usize>,
    /// The row stamping writes for each node.
    rows: Vec<Record>,
}

fn spec() -> impl Strategy<Value = Spec> {
    vec(
        vec((1u64..=4, vec((any::<u8>(), any::<u8>()), 0..=2)), 0..=8),
        1..=4,
    )
}

impl Dag {
    fn new(spec: &Spec) -> Dag {
        let mut nodes = Vec::new();
        let mut parents: Vec<Vec<usize>> = Vec::new();
        let mut set_nodes: Vec<Vec<usize>> = Vec::new();
        for (s, migrations) in spec.iter().enumerate() {
            let mut version = 0;
            let mut ids: Vec<usize> = Vec::new();
            for (increment, _) in migrations {
                version += increment;
                parents.push(ids.last().copied().into_iter().collect());
                ids.push(nodes.len());
                nodes.push((s, version));
            }
            set_nodes.push(ids);
        }
        let mut sets = Vec::new();
        for (s, migrations) in spec.iter().enumerate() {
            let mut set = Set::new(SET_NAMES[s], "1.0.0").expect("a valid set");
            let earlier: Vec<usize> = (0..s).filter(|&t| !set_nodes[t].is_empty()).collect();
            for (k, (_, picks)) in migrations.iter().enumerate() {
                let n = set_nodes[s][k];
                let version = nodes[n].1;
                let mut m = Migration::sql(
                    version,
                    &format!("m{version}"),
                    format!("SELECT '{}@{version}'", SET_NAMES[s]),
                )
                .and_then(|m| m.with_down("SELECT 0"))
                .expect("a valid migration");
                for &(a, b) in picks {
                    if earlier.is_empty() {
                        break;
                    }
                    let t = earlier[usize::from(a) % earlier.len()];
                    let d = set_nodes[t][usize::from(b) % set_nodes[t].len()];
                    if !parents[n].contains(&d) {
                        parents[n].push(d);
                        m = m.depends_on(SET_NAMES[t], nodes[d].1);
                    }
                }
                set.add(m).expect("increasing versions");
            }
            sets.push(set);
        }
        let migrations = Migrations::new(sets).expect("dependencies only point to earlier sets");
        let mut children = vec![Vec::new(); nodes.len()];
        for (n, ps) in parents.iter().enumerate() {
            for &p in ps {
                children[p].push(n);
            }
        }
        let ids: Vec<String> = nodes
            .iter()
            .map(|&(s, v)| format!("{}@{v}_m{v}", SET_NAMES[s]))
            .collect();
        let index: HashMap<(String, u64), usize> = nodes
            .iter()
            .enumerate()
            .map(|(n, &(s, v))| ((SET_NAMES[s].to_owned(), v), n))
            .collect();
        let mut rows: Vec<Option<Record>> = vec![None; nodes.len()];
        for r in migrations.history_at("heads").expect("heads") {
            let n = index[&(r.set.clone(), r.version)];
            rows[n] = Some(r);
        }
        let rows = rows
            .into_iter()
            .map(|r| r.expect("stamping heads writes every migration"))
            .collect();
        Dag {
            migrations,
            nodes,
            ids,
            parents,
            children,
            set_nodes,
            index,
            rows,
        }
    }

    fn sets(&self) -> usize {
        self.set_nodes.len()
    }

    fn version(&self, n: usize) -> u64 {
        self.nodes[n].1
    }

    /// The sets, their migrations and dependencies, for failure messages.
    fn describe(&self) -> String {
        let mut out = Vec::new();
        for (s, ids) in self.set_nodes.iter().enumerate() {
            let ms: Vec<String> = ids
                .iter()
                .map(|&n| {
                    let deps: Vec<String> = self.parents[n]
                        .iter()
                        .filter(|&&p| self.nodes[p].0 != s)
                        .map(|&p| format!("{}@{}", SET_NAMES[self.nodes[p].0], self.version(p)))
                        .collect();
                    if deps.is_empty() {
                        self.version(n).to_string()
                    } else {
                        format!("{} (depends on {})", self.version(n), deps.join(", "))
                    }
                })
                .collect();
            out.push(format!("{}: [{}]", SET_NAMES[s], ms.join(", ")));
        }
        out.join("; ")
    }

    fn closure(&self, start: impl IntoIterator<Item = usize>, up: bool) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<usize> = start.into_iter().collect();
        while let Some(n) = stack.pop() {
            if seen.insert(n) {
                stack.extend(if up {
                    &self.parents[n]
                } else {
                    &self.children[n]
                });
            }
        }
        seen
    }

    /// `subset` parents first; of the ready ones, the earlier set, then the lower version (as
    /// docs/concepts.md documents the upgrade order).
    fn documented_order(&self, subset: &BTreeSet<usize>) -> Vec<usize> {
        let mut out = Vec::new();
        let mut done = BTreeSet::new();
        while done.len() < subset.len() {
            let next = subset
                .iter()
                .copied()
                .filter(|n| !done.contains(n))
                .find(|&n| {
                    self.parents[n]
                        .iter()
                        .all(|p| !subset.contains(p) || done.contains(p))
                })
                .expect("a DAG");
            done.insert(next);
            out.push(next);
        }
        out
    }

    fn history(&self, order: &[usize]) -> Vec<Record> {
        order.iter().map(|&n| self.rows[n].clone()).collect()
    }

    fn node_of(&self, step: &PlannedStep) -> Result<usize, TestCaseError> {
        let n = self
            .index
            .get(&(step.set.clone(), step.version))
            .copied()
            .ok_or_else(|| TestCaseError::fail(format!("planned unknown step {step:?}")))?;
        prop_assert_eq!(&step.migration, &self.ids[n]);
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// Targets, and what the documentation says each one plans (or fails with).
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Target {
    Heads,
    Base,
    Head(usize),
    SetBase(usize),
    Version(Option<usize>, u64),
    Relative(Option<usize>, i64),
    From(Option<usize>, u64, i64),
}

impl Target {
    /// The canonical text, as error messages quote it.
    fn text(&self) -> String {
        let set = |s: &Option<usize>| s.map(|s| format!("{}@", SET_NAMES[s])).unwrap_or_default();
        match self {
            Target::Heads => "heads".to_owned(),
            Target::Base => "base".to_owned(),
            Target::Head(s) => format!("{}@head", SET_NAMES[*s]),
            Target::SetBase(s) => format!("{}@base", SET_NAMES[*s]),
            Target::Version(s, v) => format!("{}{v}", set(s)),
            Target::Relative(s, n) => format!("{}{n:+}", set(s)),
            Target::From(s, v, n) => format!("{}{v}{n:+}", set(s)),
        }
    }
}

fn ambiguous(text: &str, sets: &[usize]) -> String {
    let names: Vec<String> = sets
        .iter()
        .map(|&s| format!("`{}`", SET_NAMES[s]))
        .collect();
    format!(
        "target `{text}` is ambiguous between sets {}: name one, as in `{}@{text}`",
        names.join(", "),
        SET_NAMES[sets[0]]
    )
}

fn steps_available(n: usize) -> String {
    if n == 1 {
        "1 step is".to_owned()
    } else {
        format!("{n} steps are")
    }
}

/// The set a target without one applies to: the only set, or the only candidate.
fn only_set(dag: &Dag, candidates: &[usize], text: &str) -> Result<usize, String> {
    if dag.sets() == 1 {
        return Ok(0);
    }
    match candidates {
        [one] => Ok(*one),
        [] => Err(ambiguous(text, &(0..dag.sets()).collect::<Vec<_>>())),
        _ => Err(ambiguous(text, candidates)),
    }
}

fn find_version(dag: &Dag, set: Option<usize>, version: u64, text: &str) -> Result<usize, String> {
    let in_set = |s: usize| {
        dag.set_nodes[s]
            .iter()
            .copied()
            .find(|&n| dag.version(n) == version)
    };
    let unknown = |s: usize| {
        format!(
            "set `{}` has no migration with version {version}",
            SET_NAMES[s]
        )
    };
    match set {
        Some(s) => in_set(s).ok_or_else(|| unknown(s)),
        None => {
            let having: Vec<usize> = (0..dag.sets()).filter(|&s| in_set(s).is_some()).collect();
            match having.as_slice() {
                [] if dag.sets() == 1 => Err(unknown(0)),
                [] => Err(format!(
                    "no registered set has a migration with version {version}"
                )),
                [one] => Ok(in_set(*one).expect("it has it")),
                _ => Err(ambiguous(text, &having)),
            }
        }
    }
}

fn out_of_range(text: &str, available: usize, up: bool) -> String {
    format!(
        "target `{text}` walks past the {} migration: only {} available",
        if up { "last" } else { "first" },
        steps_available(available)
    )
}

fn walk(
    dag: &Dag,
    set: Option<usize>,
    version: u64,
    steps: i64,
    text: &str,
) -> Result<usize, String> {
    let n = find_version(dag, set, version, text)?;
    let ids = &dag.set_nodes[dag.nodes[n].0];
    let at = ids.iter().position(|&i| i == n).expect("in its set");
    let available = if steps > 0 { ids.len() - 1 - at } else { at };
    let wanted = usize::try_from(steps.unsigned_abs()).expect("small");
    if wanted > available {
        return Err(out_of_range(text, available, steps > 0));
    }
    Ok(if steps > 0 {
        ids[at + wanted]
    } else {
        ids[at - wanted]
    })
}

/// What an upgrade to `target` applies, as a set, or its error message.
fn expected_upgrade(
    dag: &Dag,
    applied: &BTreeSet<usize>,
    target: &Target,
) -> Result<BTreeSet<usize>, String> {
    let text = target.text();
    let pending = |s: usize| -> Vec<usize> {
        dag.set_nodes[s]
            .iter()
            .copied()
            .filter(|n| !applied.contains(n))
            .collect()
    };
    let targets: Vec<usize> = match target {
        Target::Base | Target::SetBase(_) | Target::Relative(_, ..0) => {
            return Err(format!("cannot upgrade to `{text}`: it points down"));
        }
        Target::Heads => dag
            .set_nodes
            .iter()
            .filter_map(|ids| ids.last())
            .copied()
            .collect(),
        Target::Head(s) => dag.set_nodes[*s].last().copied().into_iter().collect(),
        Target::Version(set, v) => vec![find_version(dag, *set, *v, &text)?],
        Target::From(set, v, steps) => vec![walk(dag, *set, *v, *steps, &text)?],
        Target::Relative(set, steps) => {
            let set = match set {
                Some(s) => *s,
                None => {
                    let moving: Vec<usize> = (0..dag.sets())
                        .filter(|&s| !pending(s).is_empty())
                        .collect();
                    if moving.is_empty() && dag.sets() > 1 {
                        return Err(out_of_range(&text, 0, true));
                    }
                    only_set(dag, &moving, &text)?
                }
            };
            let todo = pending(set);
            let wanted = usize::try_from(*steps).expect("small");
            if wanted > todo.len() {
                return Err(out_of_range(&text, todo.len(), true));
            }
            vec![todo[wanted - 1]]
        }
    };
    Ok(dag
        .closure(targets, true)
        .difference(applied)
        .copied()
        .collect())
}

/// What a downgrade to `target` reverts, as a set, or its error message.
fn expected_downgrade(
    dag: &Dag,
    applied: &BTreeSet<usize>,
    target: &Target,
) -> Result<BTreeSet<usize>, String> {
    let text = target.text();
    let after = |n: usize| -> Result<Vec<usize>, String> {
        if !applied.contains(&n) {
            return Err(format!(
                "cannot downgrade to `{}`: it is not applied",
                dag.ids[n]
            ));
        }
        let ids = &dag.set_nodes[dag.nodes[n].0];
        Ok(ids
            .iter()
            .copied()
            .filter(|&i| dag.version(i) > dag.version(n))
            .collect())
    };
    let roots: Vec<usize> = match target {
        Target::Heads | Target::Head(_) | Target::Relative(_, 1..) => {
            return Err(format!("cannot downgrade to `{text}`: it points up"));
        }
        Target::Base => (0..dag.nodes.len()).collect(),
        Target::SetBase(s) => dag.set_nodes[*s].clone(),
        Target::Version(set, v) => after(find_version(dag, *set, *v, &text)?)?,
        Target::From(set, v, steps) => after(walk(dag, *set, *v, *steps, &text)?)?,
        Target::Relative(set, steps) => {
            let done = |s: usize| -> Vec<usize> {
                dag.set_nodes[s]
                    .iter()
                    .copied()
                    .filter(|n| applied.contains(n))
                    .collect()
            };
            let set = match set {
                Some(s) => *s,
                None => {
                    let moving: Vec<usize> =
                        (0..dag.sets()).filter(|&s| !done(s).is_empty()).collect();
                    if moving.is_empty() && dag.sets() > 1 {
                        return Err(out_of_range(&text, 0, false));
                    }
                    only_set(dag, &moving, &text)?
                }
            };
            let done = done(set);
            let wanted = usize::try_from(steps.unsigned_abs()).expect("small");
            if wanted > done.len() {
                return Err(out_of_range(&text, done.len(), false));
            }
            done[done.len() - wanted..].to_vec()
        }
    };
    Ok(dag
        .closure(roots, false)
        .intersection(applied)
        .copied()
        .collect())
}

/// A random target of an upgrade (`up`) or a downgrade, from raw picks: mostly in range, some
/// out of range or pointing the wrong way.
fn pick_target(
    dag: &Dag,
    applied: &BTreeSet<usize>,
    up: bool,
    form: u8,
    a: u8,
    b: u8,
) -> (Target, String) {
    let set = usize::from(a) % dag.sets();
    // Mostly one or two steps, sometimes more than a set has.
    let steps = match b % 8 {
        0..=3 => 1,
        4 | 5 => 2,
        6 => 3,
        _ => 6,
    };
    let sign = if up { 1 } else { -1 };
    // A migration of `set`, or a version it does not have when it has none.
    let version = |a: u8| {
        let ids = &dag.set_nodes[set];
        if ids.is_empty() {
            1
        } else {
            dag.version(ids[usize::from(a / 4) % ids.len()])
        }
    };
    let applied_version = || {
        let done: Vec<usize> = applied.iter().copied().collect();
        if done.is_empty() {
            (Some(set), version(a))
        } else {
            let n = done[usize::from(a) % done.len()];
            (Some(dag.nodes[n].0), dag.version(n))
        }
    };
    let target = match (up, form % 10) {
        (_, 0) if up => Target::Heads,
        (_, 0) => Target::Base,
        (true, 1) => return (Target::Heads, "head".to_owned()),
        (true, 2) => Target::Head(set),
        (false, 1 | 2) => Target::SetBase(set),
        (_, 3) => Target::Version(Some(set), version(a)),
        (_, 4) => {
            let (s, v) = applied_version();
            Target::Version(s, v)
        }
        (_, 5) => Target::Version(None, version(a)),
        (_, 6) => Target::Relative(None, sign * steps),
        (_, 7) => Target::Relative(Some(set), sign * steps),
        (_, 8) => {
            let named = b & 0x10 == 0;
            let steps = if b & 0x20 == 0 { steps } else { -steps };
            let (s, v) = if up {
                (Some(set), version(a))
            } else {
                applied_version()
            };
            Target::From(if named { s } else { None }, v, steps)
        }
        // The wrong way.
        (true, _) => [
            Target::Base,
            Target::SetBase(set),
            Target::Relative(None, -steps),
        ][usize::from(b) % 3]
            .clone(),
        (false, _) => [
            Target::Heads,
            Target::Head(set),
            Target::Relative(Some(set), steps),
        ][usize::from(b) % 3]
            .clone(),
    };
    let text = target.text();
    (target, text)
}

// ---------------------------------------------------------------------------------------------
// Checking a plan: the properties, then agreement with the model.
// ---------------------------------------------------------------------------------------------

fn plan_nodes(dag: &Dag, plan: &[PlannedStep], up: bool) -> Result<Vec<usize>, TestCaseError> {
    let want = if up { Direction::Up } else { Direction::Down };
    let mut nodes = Vec::with_capacity(plan.len());
    let mut seen = BTreeSet::new();
    for step in plan {
        prop_assert_eq!(step.direction, want, "{:?}", step);
        let n = dag.node_of(step)?;
        prop_assert!(seen.insert(n), "`{}` is planned twice", dag.ids[n]);
        nodes.push(n);
    }
    Ok(nodes)
}

/// An upgrade plan: new migrations only, each after its parent and dependencies.
fn check_upgrade(
    dag: &Dag,
    applied: &BTreeSet<usize>,
    plan: &[usize],
) -> Result<(), TestCaseError> {
    for (i, &n) in plan.iter().enumerate() {
        prop_assert!(!applied.contains(&n), "`{}` is already applied", dag.ids[n]);
        for &p in &dag.parents[n] {
            prop_assert!(
                applied.contains(&p) || plan[..i].contains(&p),
                "`{}` is applied before its parent or dependency `{}`",
                dag.ids[n],
                dag.ids[p]
            );
        }
    }
    Ok(())
}

/// A downgrade plan: applied migrations only, each after everything applied that descends from
/// it.
fn check_downgrade(
    dag: &Dag,
    applied: &BTreeSet<usize>,
    plan: &[usize],
) -> Result<(), TestCaseError> {
    for (i, &n) in plan.iter().enumerate() {
        prop_assert!(applied.contains(&n), "`{}` is not applied", dag.ids[n]);
        for &c in &dag.children[n] {
            prop_assert!(
                !applied.contains(&c) || plan[..i].contains(&c),
                "`{}` is reverted while `{}`, which descends from it, is applied",
                dag.ids[n],
                dag.ids[c]
            );
        }
    }
    Ok(())
}

/// What is applied, as a set of nodes, is closed under parents and dependencies.
fn check_consistent(dag: &Dag, applied: &BTreeSet<usize>) -> Result<(), TestCaseError> {
    for &n in applied {
        for &p in &dag.parents[n] {
            prop_assert!(
                applied.contains(&p),
                "`{}` is applied without `{}`",
                dag.ids[n],
                dag.ids[p]
            );
        }
    }
    Ok(())
}

/// The database a run of plans goes through: the applied set and the history rows.
struct Db<'d> {
    dag: &'d Dag,
    applied: BTreeSet<usize>,
    history: Vec<Record>,
}

impl Db<'_> {
    /// Plans `target`, checks the plan, and runs it.
    fn run(&mut self, up: bool, target: &Target, text: &str) -> Result<(), TestCaseError> {
        let dag = self.dag;
        let context = || {
            let applied: Vec<&str> = self.applied.iter().map(|&n| dag.ids[n].as_str()).collect();
            format!(
                "{} {text} with sets {}; applied {applied:?}",
                if up { "upgrade to" } else { "downgrade to" },
                dag.describe()
            )
        };
        let planned = if up {
            dag.migrations.plan_upgrade(&self.history, text)
        } else {
            dag.migrations.plan_downgrade(&self.history, text)
        };
        let expected = if up {
            expected_upgrade(dag, &self.applied, target)
        } else {
            expected_downgrade(dag, &self.applied, target)
        };
        let plan = match (planned, expected) {
            (Ok(plan), Ok(expected)) => {
                let nodes = plan_nodes(dag, &plan, up)?;
                if up {
                    check_upgrade(dag, &self.applied, &nodes)?;
                    // The documented order, exactly.
                    prop_assert_eq!(&nodes, &dag.documented_order(&expected), "{}", context());
                } else {
                    check_downgrade(dag, &self.applied, &nodes)?;
                    let got: BTreeSet<usize> = nodes.iter().copied().collect();
                    prop_assert_eq!(got, expected, "{}", context());
                }
                nodes
            }
            (Err(e), Err(expected)) => {
                prop_assert_eq!(e.to_string(), expected, "{}", context());
                return Ok(());
            }
            (Ok(plan), Err(expected)) => {
                let plan: Vec<&str> = plan.iter().map(|s| s.migration.as_str()).collect();
                return Err(TestCaseError::fail(format!(
                    "{}: planned {plan:?}, expected the error {expected:?}",
                    context()
                )));
            }
            (Err(e), Ok(expected)) => {
                let expected: Vec<&str> = expected.iter().map(|&n| dag.ids[n].as_str()).collect();
                return Err(TestCaseError::fail(format!(
                    "{}: failed with {e:?}, expected {expected:?}",
                    context()
                )));
            }
        };
        for &n in &plan {
            if up {
                self.applied.insert(n);
                self.history.push(dag.rows[n].clone());
            } else {
                self.applied.remove(&n);
                let (set, version) = (SET_NAMES[dag.nodes[n].0], dag.version(n));
                self.history
                    .retain(|r| r.set != set || r.version != version);
            }
        }
        check_consistent(dag, &self.applied)
    }
}

type Op = (bool, u8, u8, u8);

fn random_walk(spec: &Spec, prefixes: &[u8], ops: &[Op]) -> Result<(), TestCaseError> {
    let dag = Dag::new(spec);
    // A random state closed under ancestors: a prefix of each set, plus what it depends on.
    let seeds = dag.set_nodes.iter().zip(prefixes).flat_map(|(ids, &p)| {
        let len = usize::from(p) % (ids.len() + 1);
        ids[..len].iter().copied()
    });
    let applied = dag.closure(seeds, true);
    let order = dag.documented_order(&applied);
    let mut db = Db {
        dag: &dag,
        history: dag.history(&order),
        applied,
    };
    for &(up, form, a, b) in ops {
        let (target, text) = pick_target(&dag, &db.applied, up, form, a, b);
        db.run(up, &target, &text)?;
    }
    // Whatever the state, `heads` applies everything and `base` reverts everything.
    db.run(true, &Target::Heads, "heads")?;
    prop_assert_eq!(db.applied.len(), dag.nodes.len());
    prop_assert!(
        dag.migrations
            .plan_upgrade(&db.history, "heads")?
            .is_empty()
    );
    db.run(false, &Target::Base, "base")?;
    prop_assert!(db.applied.is_empty() && db.history.is_empty());
    prop_assert!(
        dag.migrations
            .plan_downgrade(&db.history, "base")?
            .is_empty()
    );
    Ok(())
}

fn round_trip(spec: &Spec) -> Result<(), TestCaseError> {
    let dag = Dag::new(spec);
    let mut db = Db {
        dag: &dag,
        applied: BTreeSet::new(),
        history: dag.migrations.history_at("base")?,
    };
    prop_assert!(db.history.is_empty());
    db.run(true, &Target::Heads, "heads")?;
    prop_assert_eq!(db.applied.len(), dag.nodes.len());
    db.run(false, &Target::Base, "base")?;
    prop_assert!(db.applied.is_empty() && db.history.is_empty());
    Ok(())
}

/// `history_at` a migration is exactly its ancestors, parents first.
fn history_at_is_the_ancestors(spec: &Spec) -> Result<(), TestCaseError> {
    let dag = Dag::new(spec);
    for n in 0..dag.nodes.len() {
        let target = format!("{}@{}", SET_NAMES[dag.nodes[n].0], dag.version(n));
        let rows = dag.migrations.history_at(&target)?;
        let mut nodes = Vec::new();
        for r in &rows {
            prop_assert_eq!(r.state, RecordState::Applied);
            prop_assert_eq!(r.normalization, NORMALIZATION);
            nodes.push(dag.index[&(r.set.clone(), r.version)]);
        }
        let ancestors = dag.closure([n], true);
        prop_assert_eq!(&nodes, &dag.documented_order(&ancestors), "{}", target);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Keep the work tree clean: a failure prints its minimal case instead of saving it.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_plans_follow_the_dag(
        spec in spec(),
        prefixes in vec(any::<u8>(), 4),
        ops in vec(any::<Op>(), 0..=12),
    ) {
        random_walk(&spec, &prefixes, &ops)?;
    }

    #[test]
    fn heads_then_base_round_trips(spec in spec()) {
        round_trip(&spec)?;
    }

    #[test]
    fn history_at_a_migration_is_its_ancestors(spec in spec()) {
        history_at_is_the_ancestors(&spec)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed cases: every target form, every planner error, cross-set dependencies.
// ---------------------------------------------------------------------------------------------

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A set of reversible migrations `m<version>`.
fn set(name: &str, versions: &[u64]) -> Set {
    let mut s = Set::new(name, "1.0.0").expect("a valid set");
    for &v in versions {
        let m = Migration::sql(v, &format!("m{v}"), format!("SELECT '{name}@{v}'"))
            .and_then(|m| m.with_down("SELECT 0"))
            .expect("a valid migration");
        s.add(m).expect("a new version");
    }
    s
}

/// Adds a reversible migration `m<version>` depending on `deps`.
fn add(set: &mut Set, version: u64, deps: &[(&str, u64)]) {
    let mut m = Migration::sql(version, &format!("m{version}"), "SELECT 1")
        .and_then(|m| m.with_down("SELECT 0"))
        .expect("a valid migration");
    for (s, v) in deps {
        m = m.depends_on(s, *v);
    }
    set.add(m).expect("a new version");
}

/// The rows of `ids` (`set@version`), as stamping writes them.
fn rows(migrations: &Migrations, ids: &[&str]) -> Vec<Record> {
    let all = migrations.history_at("heads").expect("heads");
    ids.iter()
        .map(|id| {
            all.iter()
                .find(|r| format!("{}@{}", r.set, r.version) == *id)
                .unwrap_or_else(|| panic!("no migration {id}"))
                .clone()
        })
        .collect()
}

fn up(migrations: &Migrations, history: &[Record], target: &str) -> Vec<String> {
    let plan = migrations
        .plan_upgrade(history, target)
        .unwrap_or_else(|e| panic!("upgrade to {target}: {e}"));
    assert!(plan.iter().all(|s| s.direction == Direction::Up));
    plan.into_iter().map(|s| s.migration).collect()
}

fn down(migrations: &Migrations, history: &[Record], target: &str) -> Vec<String> {
    let plan = migrations
        .plan_downgrade(history, target)
        .unwrap_or_else(|e| panic!("downgrade to {target}: {e}"));
    assert!(plan.iter().all(|s| s.direction == Direction::Down));
    plan.into_iter().map(|s| s.migration).collect()
}

fn up_err(migrations: &Migrations, history: &[Record], target: &str) -> String {
    match migrations.plan_upgrade(history, target) {
        Ok(plan) => panic!("upgrade to {target} planned {plan:?}"),
        Err(e) => e.to_string(),
    }
}

fn down_err(migrations: &Migrations, history: &[Record], target: &str) -> String {
    match migrations.plan_downgrade(history, target) {
        Ok(plan) => panic!("downgrade to {target} planned {plan:?}"),
        Err(e) => e.to_string(),
    }
}

fn new_err(sets: Vec<Set>) -> String {
    match Migrations::new(sets) {
        Ok(_) => panic!("registered"),
        Err(e) => e.to_string(),
    }
}

/// `core` 1, 2, 3 and `blog` 10 (depends on `core@2`), 20, 30.
fn core_and_blog() -> Migrations {
    let mut blog = Set::new("blog", "1.0.0").expect("a valid set");
    add(&mut blog, 10, &[("core", 2)]);
    add(&mut blog, 20, &[]);
    add(&mut blog, 30, &[]);
    Migrations::new([set("core", &[1, 2, 3]), blog]).expect("valid sets")
}

const ALL: [&str; 6] = [
    "core@1", "core@2", "core@3", "blog@10", "blog@20", "blog@30",
];

#[test]
fn every_upgrade_target_form() {
    let m = core_and_blog();
    let all = [
        "core@1_m1",
        "core@2_m2",
        "core@3_m3",
        "blog@10_m10",
        "blog@20_m20",
        "blog@30_m30",
    ];
    assert_eq!(up(&m, &[], "heads"), all);
    assert_eq!(up(&m, &[], "head"), all);
    assert_eq!(up(&m, &[], "core@head"), all[..3]);
    let to_blog_20 = ["core@1_m1", "core@2_m2", "blog@10_m10", "blog@20_m20"];
    assert_eq!(up(&m, &[], "blog@20"), to_blog_20);
    assert_eq!(up(&m, &[], "20"), to_blog_20);
    assert_eq!(up(&m, &[], "blog@10+1"), to_blog_20);
    assert_eq!(up(&m, &[], "blog@30-1"), to_blog_20);
    assert_eq!(up(&m, &[], "10+1"), to_blog_20);
    assert_eq!(up(&m, &[], "blog@+2"), to_blog_20);
    assert_eq!(up(&m, &[], "30-2"), to_blog_20[..3]);
    assert_eq!(up(&m, &[], "core@2"), all[..2]);
    assert_eq!(up(&m, &[], "2"), all[..2]);
    assert_eq!(up(&m, &[], "core@+1"), all[..1]);
    let core = rows(&m, &ALL[..3]);
    assert_eq!(up(&m, &core, "+1"), ["blog@10_m10"]);
    assert_eq!(up(&m, &core, "+2"), ["blog@10_m10", "blog@20_m20"]);
    assert_eq!(up(&m, &core, "blog@head"), all[3..]);
    // Nothing left to do.
    let everything = rows(&m, &ALL);
    for target in ["heads", "core@head", "blog@20", "core@1", "core@1+1"] {
        assert_eq!(
            up(&m, &everything, target),
            Vec::<String>::new(),
            "{target}"
        );
    }
}

#[test]
fn every_downgrade_target_form() {
    let m = core_and_blog();
    let everything = rows(&m, &ALL);
    let all_reverted = [
        "blog@30_m30",
        "blog@20_m20",
        "blog@10_m10",
        "core@3_m3",
        "core@2_m2",
        "core@1_m1",
    ];
    assert_eq!(down(&m, &everything, "base"), all_reverted);
    // Every blog migration descends from core@1 (blog@10 depends on core@2).
    assert_eq!(down(&m, &everything, "core@base"), all_reverted);
    assert_eq!(down(&m, &everything, "blog@base"), all_reverted[..3]);
    assert_eq!(down(&m, &everything, "core@2"), ["core@3_m3"]);
    let below_core_2 = [
        "blog@30_m30",
        "blog@20_m20",
        "blog@10_m10",
        "core@3_m3",
        "core@2_m2",
    ];
    assert_eq!(down(&m, &everything, "core@1"), below_core_2);
    assert_eq!(down(&m, &everything, "1"), below_core_2);
    assert_eq!(down(&m, &everything, "core@2-1"), below_core_2);
    assert_eq!(down(&m, &everything, "3-2"), below_core_2);
    assert_eq!(down(&m, &everything, "core@-2"), below_core_2);
    assert_eq!(down(&m, &everything, "core@-1"), ["core@3_m3"]);
    assert_eq!(down(&m, &everything, "core@1+1"), ["core@3_m3"]);
    assert_eq!(
        down(&m, &everything, "blog@-2"),
        ["blog@30_m30", "blog@20_m20"]
    );
    assert_eq!(
        down(&m, &everything, "blog@30-2"),
        ["blog@30_m30", "blog@20_m20"]
    );
    assert_eq!(down(&m, &everything, "10+1"), ["blog@30_m30"]);
    assert_eq!(down(&m, &everything, "blog@30"), Vec::<String>::new());
    let core = rows(&m, &ALL[..3]);
    assert_eq!(down(&m, &core, "-1"), ["core@3_m3"]);
    assert_eq!(
        down(&m, &core, "-3"),
        ["core@3_m3", "core@2_m2", "core@1_m1"]
    );
    assert_eq!(down(&m, &core, "blog@base"), Vec::<String>::new());
    assert_eq!(down(&m, &[], "base"), Vec::<String>::new());
}

#[test]
fn registration_errors() {
    // A cycle across sets; `b@2` only descends from it and is not named.
    let mut a = Set::new("a", "1.0.0").expect("a valid set");
    add(&mut a, 1, &[("b", 1)]);
    let mut b = Set::new("b", "1.0.0").expect("a valid set");
    add(&mut b, 1, &[("a", 1)]);
    add(&mut b, 2, &[]);
    assert_eq!(
        new_err(vec![a, b]),
        "migrations depend on each other in a cycle: `a@1_m1`, `b@1_m1`"
    );
    // A cycle within one set: a migration depending on a later one of its own set.
    let mut a = set("a", &[2]);
    add(&mut a, 1, &[("a", 2)]);
    assert_eq!(
        new_err(vec![a]),
        "migrations depend on each other in a cycle: `a@1_m1`, `a@2_m2`"
    );
    // Dangling: an unknown version of a registered set, and an unregistered set.
    let mut blog = Set::new("blog", "1.0.0").expect("a valid set");
    add(&mut blog, 1, &[("core", 7)]);
    assert_eq!(
        new_err(vec![set("core", &[1]), blog.clone()]),
        "migration `blog@1_m1` depends on `core@7`, which is not registered"
    );
    assert_eq!(
        new_err(vec![blog]),
        "migration `blog@1_m1` depends on `core@7`, which is not registered"
    );
    assert_eq!(
        new_err(vec![set("app", &[1]), set("app", &[2])]),
        "set `app` is registered twice"
    );
}

#[test]
fn unmet_requirements_name_both_sets_and_versions() -> TestResult {
    let mut blog = set("blog", &[1]);
    blog.require("core", "^2.1")?;
    assert_eq!(
        new_err(vec![Set::new("core", "1.4.0")?, blog.clone()]),
        "set `blog 1.0.0` requires `core ^2.1` but `core 1.4.0` is registered"
    );
    assert_eq!(
        new_err(vec![blog.clone()]),
        "set `blog 1.0.0` requires `core ^2.1` but no set `core` is registered"
    );
    // Registered after the set that requires it is fine too.
    assert!(Migrations::new([blog, Set::new("core", "2.3.0")?]).is_ok());
    Ok(())
}

#[test]
fn target_resolution_errors() {
    let m = core_and_blog();
    let everything = rows(&m, &ALL);
    for target in ["nope@head", "nope@1", "nope@+1", "nope@1+1"] {
        assert_eq!(
            up_err(&m, &[], target),
            "no set named `nope` is registered",
            "{target}"
        );
    }
    for target in ["nope@base", "nope@-1", "nope@2"] {
        assert_eq!(
            down_err(&m, &everything, target),
            "no set named `nope` is registered",
            "{target}"
        );
    }
    assert_eq!(
        up_err(&m, &[], "core@9"),
        "set `core` has no migration with version 9"
    );
    assert_eq!(
        down_err(&m, &everything, "blog@9-1"),
        "set `blog` has no migration with version 9"
    );
    assert_eq!(
        up_err(&m, &[], "9"),
        "no registered set has a migration with version 9"
    );
    // With one set, a version it lacks is that set's.
    let single = Migrations::new([set("core", &[1, 2])]).expect("a valid set");
    assert_eq!(
        up_err(&single, &[], "9"),
        "set `core` has no migration with version 9"
    );
    assert_eq!(
        up_err(&m, &[], "latest"),
        "invalid target `latest`: expected `heads`, `base`, `<set>@head`, `<set>@base`, \
         `<version>`, `<set>@<version>`, `+N`, `-N`, `<set>@+N`, `<set>@-N` or `<set>@<version>+N`"
    );
    assert_eq!(
        down_err(&m, &everything, "core@-0"),
        "invalid target `core@-0`: a relative step must be a positive number"
    );
}

#[test]
fn relative_targets_out_of_range() {
    let m = core_and_blog();
    let core = rows(&m, &ALL[..3]);
    assert_eq!(
        up_err(&m, &core, "+5"),
        "target `+5` walks past the last migration: only 3 steps are available"
    );
    assert_eq!(
        up_err(&m, &core, "core@+1"),
        "target `core@+1` walks past the last migration: only 0 steps are available"
    );
    assert_eq!(
        up_err(&m, &[], "core@2+2"),
        "target `core@2+2` walks past the last migration: only 1 step is available"
    );
    assert_eq!(
        up_err(&m, &[], "core@1-1"),
        "target `core@1-1` walks past the first migration: only 0 steps are available"
    );
    let one = rows(&m, &ALL[..1]);
    assert_eq!(
        down_err(&m, &one, "-2"),
        "target `-2` walks past the first migration: only 1 step is available"
    );
    assert_eq!(
        down_err(&m, &one, "blog@-1"),
        "target `blog@-1` walks past the first migration: only 0 steps are available"
    );
    assert_eq!(
        down_err(&m, &one, "30+1"),
        "target `30+1` walks past the last migration: only 0 steps are available"
    );
}

#[test]
fn ambiguous_targets() {
    let m = Migrations::new([set("core", &[1, 2]), set("blog", &[1, 2])]).expect("valid sets");
    // Both sets can move up.
    assert_eq!(
        up_err(&m, &[], "+1"),
        "target `+1` is ambiguous between sets `core`, `blog`: name one, as in `core@+1`"
    );
    let both = rows(&m, &["core@1", "blog@1"]);
    assert_eq!(
        up_err(&m, &both, "+1"),
        "target `+1` is ambiguous between sets `core`, `blog`: name one, as in `core@+1`"
    );
    // Both sets can move down.
    assert_eq!(
        down_err(&m, &both, "-1"),
        "target `-1` is ambiguous between sets `core`, `blog`: name one, as in `core@-1`"
    );
    // Both sets have the version.
    assert_eq!(
        up_err(&m, &[], "2"),
        "target `2` is ambiguous between sets `core`, `blog`: name one, as in `core@2`"
    );
    assert_eq!(
        down_err(&m, &both, "1"),
        "target `1` is ambiguous between sets `core`, `blog`: name one, as in `core@1`"
    );
    assert_eq!(
        up_err(&m, &[], "1+1"),
        "target `1+1` is ambiguous between sets `core`, `blog`: name one, as in `core@1+1`"
    );
    // No set can move: not ambiguous, out of range.
    let all = rows(&m, &["core@1", "core@2", "blog@1", "blog@2"]);
    assert_eq!(
        up_err(&m, &all, "+1"),
        "target `+1` walks past the last migration: only 0 steps are available"
    );
    assert_eq!(
        down_err(&m, &[], "-1"),
        "target `-1` walks past the first migration: only 0 steps are available"
    );
    // Only one set can move: no doubt.
    let core = rows(&m, &["core@1", "core@2"]);
    assert_eq!(up(&m, &core, "+1"), ["blog@1_m1"]);
    assert_eq!(down(&m, &core, "-1"), ["core@2_m2"]);
}

#[test]
fn wrong_direction_and_targets_not_applied() {
    let m = core_and_blog();
    let everything = rows(&m, &ALL);
    for (target, shown) in [
        ("-1", "-1"),
        ("core@-2", "core@-2"),
        ("base", "base"),
        ("core@base", "core@base"),
    ] {
        assert_eq!(
            up_err(&m, &everything, target),
            format!("cannot upgrade to `{shown}`: it points down")
        );
    }
    for (target, shown) in [
        ("+1", "+1"),
        ("blog@+1", "blog@+1"),
        ("heads", "heads"),
        ("head", "heads"),
        ("core@head", "core@head"),
    ] {
        assert_eq!(
            down_err(&m, &[], target),
            format!("cannot downgrade to `{shown}`: it points up")
        );
    }
    let core = rows(&m, &ALL[..2]);
    assert_eq!(
        down_err(&m, &core, "core@3"),
        "cannot downgrade to `core@3_m3`: it is not applied"
    );
    assert_eq!(
        down_err(&m, &core, "blog@10"),
        "cannot downgrade to `blog@10_m10`: it is not applied"
    );
    assert_eq!(
        down_err(&m, &core, "core@1+2"),
        "cannot downgrade to `core@3_m3`: it is not applied"
    );
}

fn record(set: &str, version: u64, name: &str, up_sql: &str) -> Record {
    Record {
        set: set.to_owned(),
        version,
        name: name.to_owned(),
        checksum: Checksum::of(up_sql).to_string(),
        normalization: NORMALIZATION,
        down_sql: Some("SELECT 0".to_owned()),
        set_version: "1.1.0".to_owned(),
        applied_at: String::new(),
        duration_ms: 0,
        state: RecordState::Applied,
        in_flight: None,
    }
}

fn app(versions: &[(u64, &str)]) -> Set {
    let mut s = Set::new("app", "1.0.0").expect("a valid set");
    for &(v, name) in versions {
        let m = Migration::sql(v, name, format!("SELECT {v}"))
            .and_then(|m| m.with_down("SELECT 0"))
            .expect("a valid migration");
        s.add(m).expect("a new version");
    }
    s
}

#[test]
fn history_errors() -> TestResult {
    let m = Migrations::new([app(&[(10, "a"), (20, "b"), (30, "c")])])?;
    // Unknown rows, in both directions.
    let mut history = rows(&m, &["app@10"]);
    history.push(record("app", 40, "d", "SELECT 40"));
    let unknown = "the database has 1 applied migration this binary does not know: \
                   `app@40_d` (applied by set version 1.1.0)";
    assert_eq!(up_err(&m, &history, "heads"), unknown);
    assert_eq!(down_err(&m, &history, "base"), unknown);
    history.push(record("old", 1, "x", "SELECT 1"));
    assert_eq!(
        up_err(&m, &history, "app@10"),
        "the database has 2 applied migrations this binary does not know: \
         `app@40_d` (applied by set version 1.1.0), `old@1_x` (applied by set version 1.1.0)"
    );
    let tolerant = m.clone().allow_unknown(true);
    assert_eq!(
        down(&tolerant, &history, "app@base"),
        ["app@40_d", "app@10_a"]
    );
    // Out of order, and allowed.
    let gap = rows(&m, &["app@10", "app@30"]);
    let out_of_order = "migration `app@20_b` is not applied but the later `app@30_c` is; \
                        allow out-of-order migrations to apply it";
    assert_eq!(up_err(&m, &gap, "heads"), out_of_order);
    assert_eq!(up_err(&m, &gap, "app@10"), out_of_order);
    assert_eq!(
        up(&m.clone().out_of_order(true), &gap, "heads"),
        ["app@20_b"]
    );
    // A changed checksum, and a row taken under another normalisation.
    let mut changed = rows(&m, &["app@10"]);
    changed[0].checksum = Checksum::of("SELECT 'old'").to_string();
    let mismatch = format!(
        "migration `app@10_a` changed after it was applied: checksum was {}, is now {}",
        Checksum::of("SELECT 'old'"),
        Checksum::of("SELECT 10")
    );
    assert_eq!(up_err(&m, &changed, "heads"), mismatch);
    assert_eq!(down_err(&m, &changed, "base"), mismatch);
    let mut renormalised = rows(&m, &["app@10"]);
    renormalised[0].normalization = NORMALIZATION + 1;
    assert_eq!(
        up_err(&m, &renormalised, "heads"),
        format!(
            "migration `app@10_a` changed after it was applied: checksum was {} (normalisation {}), is now {}",
            Checksum::of("SELECT 10"),
            NORMALIZATION + 1,
            Checksum::of("SELECT 10")
        )
    );
    // A dirty row.
    let mut dirty = rows(&m, &["app@10", "app@20"]);
    dirty[1].state = RecordState::Dirty {
        completed: 1,
        direction: Direction::Up,
    };
    assert_eq!(
        up_err(&m, &dirty, "heads"),
        "migration `app@20_b` is dirty: it stopped after 1 statement and must be repaired \
         before migrating"
    );
    Ok(())
}

#[test]
fn a_migration_without_down_cannot_be_reverted() -> TestResult {
    let mut s = app(&[(1, "a")]);
    s.add(Migration::sql(3, "one_way", "SELECT 3")?)?;
    let m = Migrations::new([s])?;
    let both = rows(&m, &["app@1", "app@3"]);
    assert_eq!(
        down_err(&m, &both, "base"),
        "cannot revert migration `app@3_one_way`: it has no down migration"
    );
    assert_eq!(
        down_err(&m, &both, "app@1"),
        "cannot revert migration `app@3_one_way`: it has no down migration"
    );
    Ok(())
}

/// `core` 1, 2, 3 and `plugin` 1 (depends on `core@2`), 2, 3, registered in `order`.
fn core_and_plugin(plugin_first: bool) -> Migrations {
    let mut plugin = Set::new("plugin", "1.0.0").expect("a valid set");
    add(&mut plugin, 1, &[("core", 2)]);
    add(&mut plugin, 2, &[]);
    add(&mut plugin, 3, &[]);
    let core = set("core", &[1, 2, 3]);
    let sets = if plugin_first {
        vec![plugin, core]
    } else {
        vec![core, plugin]
    };
    Migrations::new(sets).expect("valid sets")
}

#[test]
fn upgrading_a_plugin_first_applies_the_core_migration_it_depends_on() {
    for plugin_first in [false, true] {
        let m = core_and_plugin(plugin_first);
        let to_plugin_1 = ["core@1_m1", "core@2_m2", "plugin@1_m1"];
        assert_eq!(up(&m, &[], "plugin@1"), to_plugin_1);
        assert_eq!(up(&m, &[], "plugin@+1"), to_plugin_1);
        assert_eq!(up(&m, &[], "plugin@2-1"), to_plugin_1);
        assert_eq!(
            up(&m, &[], "plugin@head"),
            [
                "core@1_m1",
                "core@2_m2",
                "plugin@1_m1",
                "plugin@2_m2",
                "plugin@3_m3"
            ]
        );
        let core_1 = rows(&m, &["core@1"]);
        assert_eq!(up(&m, &core_1, "plugin@1"), ["core@2_m2", "plugin@1_m1"]);
        let core_2 = rows(&m, &["core@1", "core@2"]);
        assert_eq!(up(&m, &core_2, "plugin@1"), ["plugin@1_m1"]);
        // And history_at a plugin migration includes the core migrations it needs.
        let at: Vec<String> = m
            .history_at("plugin@1")
            .expect("a target")
            .iter()
            .map(Record::id)
            .collect();
        assert_eq!(at, to_plugin_1);
    }
    // Without dependencies between them, the set registered first goes first.
    assert_eq!(
        up(&core_and_plugin(true), &[], "heads"),
        [
            "core@1_m1",
            "core@2_m2",
            "plugin@1_m1",
            "plugin@2_m2",
            "plugin@3_m3",
            "core@3_m3"
        ]
    );
}

#[test]
fn downgrading_core_below_a_dependency_first_reverts_the_plugin() {
    for plugin_first in [false, true] {
        let m = core_and_plugin(plugin_first);
        let all = rows(
            &m,
            &[
                "core@1", "core@2", "plugin@1", "plugin@2", "plugin@3", "core@3",
            ],
        );
        let below_core_2 = [
            "plugin@3_m3",
            "plugin@2_m2",
            "plugin@1_m1",
            "core@3_m3",
            "core@2_m2",
        ];
        let got = down(&m, &all, "core@1");
        assert_eq!(
            got.iter()
                .filter(|id| id.starts_with("plugin@"))
                .collect::<Vec<_>>(),
            below_core_2[..3].iter().collect::<Vec<_>>()
        );
        let pos = |id: &str| got.iter().position(|g| g == id).expect("planned");
        assert!(pos("plugin@1_m1") < pos("core@2_m2"));
        assert!(pos("core@3_m3") < pos("core@2_m2"));
        assert_eq!(got.len(), 5);
        if !plugin_first {
            assert_eq!(got, below_core_2);
            assert_eq!(down(&m, &all, "core@-2"), below_core_2);
        }
        // Reverting only core@3 leaves the plugin alone.
        assert_eq!(down(&m, &all, "core@2"), ["core@3_m3"]);
        assert_eq!(down(&m, &all, "core@-1"), ["core@3_m3"]);
        // With only plugin@1 applied, it goes before core@2.
        let partial = rows(&m, &["core@1", "core@2", "plugin@1"]);
        assert_eq!(down(&m, &partial, "core@1"), ["plugin@1_m1", "core@2_m2"]);
        assert_eq!(
            down(&m, &partial, "core@base"),
            ["plugin@1_m1", "core@2_m2", "core@1_m1"]
        );
        assert_eq!(down(&m, &partial, "plugin@base"), ["plugin@1_m1"]);
    }
}
