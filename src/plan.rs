//! The planner: (sets, applied rows, target) -> ordered steps, or an error. No I/O.
//!
//! Migrations of all sets form one DAG: each migration's parent is the previous one in its set,
//! plus its `depends-on` migrations. The semantics follow Alembic's revision map.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use crate::adapter::{Record, RecordState};
use crate::error::{Direction, Error, ErrorKind, Result};
use crate::migration::{Checksum, Migration, NORMALIZATION, Set};

/// Where to upgrade, downgrade or stamp to.
///
/// Parsed from the forms `heads`, `base`, `<set>@head`, `<set>@base`, `<set>@<version>`,
/// `<version>`, `+N`, `-N`, `<set>@+N`, `<set>@-N` and `<set>@<version>+N` (or `-N`).
/// Without a set, a version or relative step applies to the only set that fits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The last migration of every set.
    Heads,
    /// Nothing applied.
    Base,
    /// The last migration of one set.
    Head(String),
    /// Nothing of one set applied (and nothing that depends on it).
    SetBase(String),
    /// One migration.
    Version {
        /// The set, when named.
        set: Option<String>,
        /// The version.
        version: u64,
    },
    /// `N` steps up (positive) or down (negative) from what is applied.
    Relative {
        /// The set, when named.
        set: Option<String>,
        /// Steps, non-zero.
        steps: i64,
    },
    /// `N` migrations after (or before) a version in its set.
    From {
        /// The set, when named.
        set: Option<String>,
        /// The version counted from.
        version: u64,
        /// Steps, non-zero.
        steps: i64,
    },
}

fn invalid(target: &str, reason: &'static str) -> Error {
    Error::new(ErrorKind::InvalidTarget {
        target: target.to_owned(),
        reason,
    })
}

const TARGET_FORMS: &str = "expected `heads`, `base`, `<set>@head`, `<set>@base`, `<version>`, `<set>@<version>`, `+N`, `-N`, `<set>@+N`, `<set>@-N` or `<set>@<version>+N`";

fn parse_steps(s: &str, target: &str) -> Result<i64> {
    let n: i64 = s[1..]
        .parse()
        .map_err(|_| invalid(target, "expected a number of steps after `+` or `-`"))?;
    if n == 0 || s[1..].starts_with(['+', '-']) {
        return Err(invalid(target, "a relative step must be a positive number"));
    }
    Ok(if s.starts_with('-') { -n } else { n })
}

/// Parses `<version>`, `<version>+N`, `<version>-N`, `+N`, `-N`.
fn parse_position(s: &str, set: Option<String>, target: &str) -> Result<Target> {
    if s.starts_with(['+', '-']) {
        return Ok(Target::Relative {
            set,
            steps: parse_steps(s, target)?,
        });
    }
    let digits = s.find(['+', '-']).unwrap_or(s.len());
    if digits == 0 || !s[..digits].bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(target, TARGET_FORMS));
    }
    let version = s[..digits]
        .parse()
        .map_err(|_| invalid(target, "the version does not fit in 64 bits"))?;
    if digits == s.len() {
        Ok(Target::Version { set, version })
    } else {
        Ok(Target::From {
            set,
            version,
            steps: parse_steps(&s[digits..], target)?,
        })
    }
}

impl FromStr for Target {
    type Err = Error;

    fn from_str(s: &str) -> Result<Target> {
        match s {
            "heads" | "head" => return Ok(Target::Heads),
            "base" => return Ok(Target::Base),
            "" => return Err(invalid(s, TARGET_FORMS)),
            _ => {}
        }
        match s.split_once('@') {
            Some(("", _)) => Err(invalid(s, "expected a set name before `@`")),
            Some((set, "head")) => Ok(Target::Head(set.to_owned())),
            Some((set, "base")) => Ok(Target::SetBase(set.to_owned())),
            Some((set, rest)) => parse_position(rest, Some(set.to_owned()), s),
            None => parse_position(s, None, s),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |f: &mut fmt::Formatter<'_>, s: &Option<String>| match s {
            Some(s) => write!(f, "{s}@"),
            None => Ok(()),
        };
        match self {
            Target::Heads => f.write_str("heads"),
            Target::Base => f.write_str("base"),
            Target::Head(s) => write!(f, "{s}@head"),
            Target::SetBase(s) => write!(f, "{s}@base"),
            Target::Version { set: s, version } => {
                set(f, s)?;
                write!(f, "{version}")
            }
            Target::Relative { set: s, steps } => {
                set(f, s)?;
                write!(f, "{steps:+}")
            }
            Target::From {
                set: s,
                version,
                steps,
            } => {
                set(f, s)?;
                write!(f, "{version}{steps:+}")
            }
        }
    }
}

/// A node of the graph: a known migration, or an applied row this binary does not know.
#[derive(Clone, Copy)]
pub(crate) enum Node<'a> {
    Known(&'a Migration, &'a Set),
    Unknown(&'a Record),
}

impl<'a> Node<'a> {
    pub(crate) fn set(&self) -> &'a str {
        match self {
            Node::Known(m, _) => &m.set,
            Node::Unknown(r) => &r.set,
        }
    }

    pub(crate) fn version(&self) -> u64 {
        match self {
            Node::Known(m, _) => m.version,
            Node::Unknown(r) => r.version,
        }
    }

    pub(crate) fn id(&self) -> String {
        match self {
            Node::Known(m, _) => m.to_string(),
            Node::Unknown(r) => r.id(),
        }
    }

    fn is_reversible(&self) -> bool {
        match self {
            Node::Known(m, _) => m.is_reversible(),
            Node::Unknown(r) => r.down_sql.is_some(),
        }
    }
}

/// One step of a plan made without a database ([`Migrations::plan_upgrade`],
/// [`Migrations::plan_downgrade`]).
///
/// [`Migrations::plan_upgrade`]: crate::Migrations::plan_upgrade
/// [`Migrations::plan_downgrade`]: crate::Migrations::plan_downgrade
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    /// The migration, as `set@version_name`.
    pub migration: String,
    /// Its set.
    pub set: String,
    /// Its version.
    pub version: u64,
    /// Applying (`Up`) or reverting (`Down`).
    pub direction: Direction,
}

impl From<&Step<'_>> for PlannedStep {
    fn from(step: &Step<'_>) -> PlannedStep {
        PlannedStep {
            migration: step.node.id(),
            set: step.node.set().to_owned(),
            version: step.node.version(),
            direction: step.direction,
        }
    }
}

/// One step of a plan.
#[derive(Clone, Copy)]
pub(crate) struct Step<'a> {
    pub(crate) node: Node<'a>,
    pub(crate) direction: Direction,
}

/// The DAG of all registered migrations, plus applied rows the binary does not know.
pub(crate) struct Graph<'a> {
    nodes: Vec<Node<'a>>,
    index: HashMap<(&'a str, u64), usize>,
    parents: Vec<Vec<usize>>,
    children: Vec<Vec<usize>>,
    /// Per set name, its nodes in version order.
    sets: Vec<(&'a str, Vec<usize>)>,
}

impl<'a> Graph<'a> {
    /// The graph of the registered sets. Errors on a dangling dependency or a cycle.
    pub(crate) fn new(sets: &'a [Set]) -> Result<Graph<'a>> {
        Graph::with_unknown(sets, &[])
    }

    /// The graph, with `unknown` rows as extra nodes placed by version in their sets.
    pub(crate) fn with_unknown(sets: &'a [Set], unknown: &[&'a Record]) -> Result<Graph<'a>> {
        let mut graph = Graph {
            nodes: Vec::new(),
            index: HashMap::new(),
            parents: Vec::new(),
            children: Vec::new(),
            sets: Vec::new(),
        };
        let mut per_set: Vec<(&'a str, Vec<Node<'a>>)> = sets
            .iter()
            .map(|s| {
                let nodes = s.migrations().iter().map(|m| Node::Known(m, s)).collect();
                (s.name(), nodes)
            })
            .collect();
        for r in unknown {
            match per_set.iter_mut().find(|(name, _)| *name == r.set) {
                Some((_, nodes)) => nodes.push(Node::Unknown(r)),
                None => per_set.push((&r.set, vec![Node::Unknown(r)])),
            }
        }
        for (name, mut nodes) in per_set {
            nodes.sort_by_key(Node::version);
            let mut ids = Vec::with_capacity(nodes.len());
            for node in nodes {
                let i = graph.nodes.len();
                graph.index.insert((node.set(), node.version()), i);
                graph.nodes.push(node);
                graph
                    .parents
                    .push(ids.last().copied().into_iter().collect());
                graph.children.push(Vec::new());
                ids.push(i);
            }
            graph.sets.push((name, ids));
        }
        for i in 0..graph.nodes.len() {
            if let Node::Known(m, _) = graph.nodes[i] {
                for dep in &m.depends_on {
                    let Some(&d) = graph.index.get(&(dep.set.as_str(), dep.version)) else {
                        return Err(Error::new(ErrorKind::MissingDependency {
                            migration: m.to_string(),
                            dependency: dep.to_string(),
                        }));
                    };
                    graph.parents[i].push(d);
                }
            }
        }
        for i in 0..graph.nodes.len() {
            for p in graph.parents[i].clone() {
                graph.children[p].push(i);
            }
        }
        graph.check_acyclic()?;
        Ok(graph)
    }

    fn check_acyclic(&self) -> Result<()> {
        let all: BTreeSet<usize> = (0..self.nodes.len()).collect();
        let order = self.topological(&all);
        if order.len() == all.len() {
            return Ok(());
        }
        // Peel off nodes that lead nowhere; what is left is on (or between) cycles.
        let mut left: BTreeSet<usize> = all
            .difference(&order.into_iter().collect())
            .copied()
            .collect();
        loop {
            let leaf = left
                .iter()
                .copied()
                .find(|&n| !self.children[n].iter().any(|c| left.contains(c)));
            match leaf {
                Some(n) => left.remove(&n),
                None => break,
            };
        }
        Err(Error::new(ErrorKind::Cycle {
            migrations: left.iter().map(|&n| self.nodes[n].id()).collect(),
        }))
    }

    /// `subset` ordered parents first; ties go to the earlier set, then the lower version.
    fn topological(&self, subset: &BTreeSet<usize>) -> Vec<usize> {
        let mut waiting: HashMap<usize, usize> = subset
            .iter()
            .map(|&n| {
                (
                    n,
                    self.parents[n]
                        .iter()
                        .filter(|p| subset.contains(p))
                        .count(),
                )
            })
            .collect();
        let mut ready: BTreeSet<usize> = waiting
            .iter()
            .filter(|&(_, &c)| c == 0)
            .map(|(&n, _)| n)
            .collect();
        let mut out = Vec::with_capacity(subset.len());
        while let Some(n) = ready.pop_first() {
            out.push(n);
            for c in &self.children[n] {
                if let Some(count) = waiting.get_mut(c) {
                    *count -= 1;
                    if *count == 0 {
                        ready.insert(*c);
                    }
                }
            }
        }
        out
    }

    fn closure(&self, start: impl IntoIterator<Item = usize>, up: bool) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<usize> = start.into_iter().collect();
        while let Some(n) = stack.pop() {
            if seen.insert(n) {
                let next = if up {
                    &self.parents[n]
                } else {
                    &self.children[n]
                };
                stack.extend(next.iter().copied());
            }
        }
        seen
    }

    fn set_nodes(&self, set: &str) -> Result<&[usize]> {
        self.sets
            .iter()
            .find(|(name, _)| *name == set)
            .map(|(_, ids)| ids.as_slice())
            .ok_or_else(|| {
                Error::new(ErrorKind::UnknownSet {
                    set: set.to_owned(),
                })
            })
    }

    fn node(&self, set: &str, version: u64) -> Result<usize> {
        self.set_nodes(set)?;
        self.index.get(&(set, version)).copied().ok_or_else(|| {
            Error::new(ErrorKind::UnknownVersion {
                set: set.to_owned(),
                version,
            })
        })
    }
}

/// Applied rows by `(set, version)`.
pub(crate) struct Applied<'r> {
    rows: HashMap<(&'r str, u64), &'r Record>,
}

impl<'r> Applied<'r> {
    pub(crate) fn new(records: &'r [Record]) -> Applied<'r> {
        Applied {
            rows: records
                .iter()
                .map(|r| ((r.set.as_str(), r.version), r))
                .collect(),
        }
    }

    pub(crate) fn get(&self, set: &str, version: u64) -> Option<&'r Record> {
        self.rows.get(&(set, version)).copied()
    }

    /// Whether the migration counts as applied: a row that is not a repaired partial apply
    /// (which is pending, to be resumed).
    pub(crate) fn is_applied(&self, set: &str, version: u64) -> bool {
        self.rows
            .get(&(set, version))
            .is_some_and(|r| !is_partial_up(r))
    }

    fn contains(&self, node: &Node<'_>) -> bool {
        self.is_applied(node.set(), node.version())
    }
}

fn is_partial_up(r: &Record) -> bool {
    matches!(
        r.state,
        RecordState::Partial {
            direction: Direction::Up,
            ..
        }
    )
}

/// How many statements of `step` took effect before: the `completed` count of a partial row
/// in its direction, else 0.
pub(crate) fn resumed(records: &[Record], step: &Step<'_>) -> u32 {
    records
        .iter()
        .find(|r| r.set == step.node.set() && r.version == step.node.version())
        .and_then(|r| match r.state {
            RecordState::Partial {
                completed,
                direction,
            } if direction == step.direction => Some(completed),
            _ => None,
        })
        .unwrap_or(0)
}

/// Policy knobs of a plan.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Policy {
    pub(crate) allow_unknown: bool,
    pub(crate) out_of_order: bool,
}

/// The operation to plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Upgrade,
    Downgrade,
    Stamp,
}

/// Rows the binary does not know, as `(id, set version)`.
pub(crate) fn unknown_records<'r>(sets: &[Set], records: &'r [Record]) -> Vec<&'r Record> {
    records
        .iter()
        .filter(|r| {
            !sets.iter().any(|s| {
                s.name() == r.set
                    && s.migrations()
                        .binary_search_by_key(&r.version, Migration::version)
                        .is_ok()
            })
        })
        .collect()
}

/// The checksum problems of known applied rows: `(migration, stored, current)`.
pub(crate) fn checksum_mismatch(m: &Migration, r: &Record) -> Option<(String, Checksum)> {
    if r.normalization == NORMALIZATION && m.checksum.matches_hex(&r.checksum) {
        None
    } else if r.normalization == NORMALIZATION {
        Some((r.checksum.clone(), m.checksum))
    } else {
        // Taken under another normalisation: say so, the digits alone may even be equal.
        Some((
            format!("{} (normalisation {})", r.checksum, r.normalization),
            m.checksum,
        ))
    }
}

/// What [`verify`] found.
pub(crate) struct Verified<'r> {
    pub(crate) applied: Applied<'r>,
    pub(crate) unknown: Vec<&'r Record>,
    /// Every known migration has an applied row.
    pub(crate) complete: bool,
}

/// Checks applied rows against the binary before any run: dirty rows, unknown rows, changed
/// checksums.
pub(crate) fn verify<'r>(
    sets: &[Set],
    records: &'r [Record],
    policy: Policy,
) -> Result<Verified<'r>> {
    if let Some(r) = records.iter().find(|r| r.state.is_dirty()) {
        return Err(Error::new(ErrorKind::Dirty {
            migration: r.id(),
            completed: r.state.completed().unwrap_or(0),
            in_flight: r.in_flight.clone(),
            waited: None,
        }));
    }
    let applied = Applied::new(records);
    let mut known = 0;
    let mut matched = 0;
    let mut resumable = 0;
    for set in sets {
        known += set.migrations().len();
        for m in set.migrations() {
            let Some(r) = applied.get(set.name(), m.version) else {
                continue;
            };
            matched += 1;
            if is_partial_up(r) {
                // Pending, to be resumed; the operator may have edited its remaining statements,
                // and the final row takes the file's checksum then.
                resumable += 1;
                continue;
            }
            if let Some((stored, current)) = checksum_mismatch(m, r) {
                return Err(Error::new(ErrorKind::ChecksumMismatch {
                    migration: m.to_string(),
                    applied: stored,
                    current,
                }));
            }
        }
    }
    let unknown = if matched == records.len() {
        Vec::new()
    } else {
        unknown_records(sets, records)
    };
    if !unknown.is_empty() && !policy.allow_unknown {
        return Err(Error::new(ErrorKind::UnknownApplied {
            migrations: unknown
                .iter()
                .map(|r| (r.id(), r.set_version.clone()))
                .collect(),
        }));
    }
    Ok(Verified {
        applied,
        unknown,
        complete: matched == known && resumable == 0,
    })
}

/// Plans `operation` to `target`. For [`Operation::Stamp`] the steps are the rows to write
/// (up) and delete (down), without running anything.
pub(crate) fn plan<'a>(
    sets: &'a [Set],
    records: &'a [Record],
    target: &Target,
    operation: Operation,
    policy: Policy,
) -> Result<Vec<Step<'a>>> {
    let Verified {
        applied,
        unknown,
        complete,
    } = verify(sets, records, policy)?;
    if complete && unknown.is_empty() && operation == Operation::Upgrade && *target == Target::Heads
    {
        // The boot path with nothing to do: no graph needed.
        return Ok(Vec::new());
    }
    let graph = Graph::with_unknown(sets, &unknown)?;
    let target_text = target.to_string();
    let direction = match (operation, target) {
        (Operation::Upgrade, _)
        | (
            Operation::Stamp,
            Target::Heads | Target::Head(_) | Target::Relative { steps: 1.., .. },
        ) => Direction::Up,
        (Operation::Downgrade, _)
        | (Operation::Stamp, Target::Base | Target::SetBase(_) | Target::Relative { .. }) => {
            Direction::Down
        }
        // A version target: stamp both ways, to exactly that point.
        (Operation::Stamp, Target::Version { .. } | Target::From { .. }) => {
            let mut steps = plan_up(&graph, &applied, target, &target_text, policy)?;
            steps.extend(plan_down(&graph, &applied, target, &target_text, true)?);
            return Ok(steps);
        }
    };
    match direction {
        Direction::Up => plan_up(&graph, &applied, target, &target_text, policy),
        Direction::Down => {
            let steps = plan_down(
                &graph,
                &applied,
                target,
                &target_text,
                operation == Operation::Stamp,
            )?;
            if operation == Operation::Downgrade
                && let Some(s) = steps.iter().find(|s| !s.node.is_reversible())
            {
                return Err(Error::new(ErrorKind::Irreversible {
                    migration: s.node.id(),
                }));
            }
            // A partial up migration's first statements took effect on top of what a
            // downgrade of its set would revert: the next `up` would then skip them.
            if operation == Operation::Downgrade
                && let Some(r) = records.iter().find(|r| {
                    matches!(
                        r.state,
                        RecordState::Partial {
                            direction: Direction::Up,
                            ..
                        }
                    ) && steps.iter().any(|s| s.node.set() == r.set)
                })
            {
                return Err(Error::new(ErrorKind::PartialInTheWay {
                    migration: r.id(),
                    completed: r.state.completed().unwrap_or(0),
                }));
            }
            Ok(steps)
        }
    }
}

/// The set a target without a set name applies to: the only set, or the only one among
/// `candidates`.
fn only_set<'g>(graph: &'g Graph<'_>, candidates: &[&'g str], target: &str) -> Result<&'g str> {
    if graph.sets.len() == 1 {
        return Ok(graph.sets[0].0);
    }
    match candidates {
        [one] => Ok(one),
        _ => {
            let sets = if candidates.is_empty() {
                graph.sets.iter().map(|(n, _)| (*n).to_owned()).collect()
            } else {
                candidates.iter().map(|n| (*n).to_owned()).collect()
            };
            Err(Error::new(ErrorKind::AmbiguousTarget {
                target: target.to_owned(),
                sets,
            }))
        }
    }
}

/// Resolves `version` (and `set`, if given) to a node.
fn resolve_version(
    graph: &Graph<'_>,
    set: Option<&str>,
    version: u64,
    target: &str,
) -> Result<usize> {
    match set {
        Some(set) => graph.node(set, version),
        None => {
            let having: Vec<&str> = graph
                .sets
                .iter()
                .filter(|(name, _)| graph.index.contains_key(&(*name, version)))
                .map(|(name, _)| *name)
                .collect();
            if having.is_empty() {
                if graph.sets.len() == 1 {
                    return graph.node(graph.sets[0].0, version);
                }
                return Err(Error::new(ErrorKind::NoSuchVersion { version }));
            }
            let set = only_set(graph, &having, target)?;
            graph.node(set, version)
        }
    }
}

/// `version+steps` within the version's set.
fn resolve_from(
    graph: &Graph<'_>,
    set: Option<&str>,
    version: u64,
    steps: i64,
    target: &str,
) -> Result<usize> {
    let node = resolve_version(graph, set, version, target)?;
    let ids = graph.set_nodes(graph.nodes[node].set())?;
    let at = ids.iter().position(|&n| n == node).unwrap_or(0);
    let available = if steps > 0 { ids.len() - 1 - at } else { at };
    let wanted = usize::try_from(steps.unsigned_abs()).unwrap_or(usize::MAX);
    if wanted > available {
        return Err(Error::new(ErrorKind::RelativeOutOfRange {
            target: target.to_owned(),
            available,
            direction: if steps > 0 {
                Direction::Up
            } else {
                Direction::Down
            },
        }));
    }
    Ok(if steps > 0 {
        ids[at + wanted]
    } else {
        ids[at - wanted]
    })
}

fn plan_up<'a>(
    graph: &Graph<'a>,
    applied: &Applied<'_>,
    target: &Target,
    text: &str,
    policy: Policy,
) -> Result<Vec<Step<'a>>> {
    let pending = |ids: &[usize]| -> Vec<usize> {
        ids.iter()
            .copied()
            .filter(|&n| !applied.contains(&graph.nodes[n]))
            .collect()
    };
    let targets: Vec<usize> = match target {
        Target::Heads => graph
            .sets
            .iter()
            .filter_map(|(_, ids)| ids.last().copied())
            .collect(),
        Target::Base | Target::SetBase(_) => {
            return Err(Error::new(ErrorKind::WrongDirection {
                target: text.to_owned(),
                direction: Direction::Up,
            }));
        }
        Target::Head(set) => graph.set_nodes(set)?.last().copied().into_iter().collect(),
        Target::Version { set, version } => {
            vec![resolve_version(graph, set.as_deref(), *version, text)?]
        }
        Target::From {
            set,
            version,
            steps,
        } => {
            vec![resolve_from(graph, set.as_deref(), *version, *steps, text)?]
        }
        Target::Relative { steps, .. } if *steps < 0 => {
            return Err(Error::new(ErrorKind::WrongDirection {
                target: text.to_owned(),
                direction: Direction::Up,
            }));
        }
        Target::Relative { set, steps } => {
            let set = match set {
                Some(s) => s.as_str(),
                None => {
                    let moving: Vec<&str> = graph
                        .sets
                        .iter()
                        .filter(|(_, ids)| !pending(ids).is_empty())
                        .map(|(n, _)| *n)
                        .collect();
                    if moving.is_empty() {
                        // No set can move: not ambiguous, just out of range.
                        return Err(Error::new(ErrorKind::RelativeOutOfRange {
                            target: text.to_owned(),
                            available: 0,
                            direction: Direction::Up,
                        }));
                    }
                    only_set(graph, &moving, text)?
                }
            };
            let todo = pending(graph.set_nodes(set)?);
            let wanted = usize::try_from(*steps).unwrap_or(usize::MAX);
            if wanted > todo.len() {
                return Err(Error::new(ErrorKind::RelativeOutOfRange {
                    target: text.to_owned(),
                    available: todo.len(),
                    direction: Direction::Up,
                }));
            }
            vec![todo[wanted - 1]]
        }
    };
    let wanted: BTreeSet<usize> = graph
        .closure(targets, true)
        .into_iter()
        .filter(|&n| !applied.contains(&graph.nodes[n]))
        .collect();
    if !policy.out_of_order {
        for (_, ids) in &graph.sets {
            let latest = ids
                .iter()
                .rev()
                .find(|&&n| applied.contains(&graph.nodes[n]));
            if let Some(&latest) = latest
                && let Some(&early) = ids
                    .iter()
                    .find(|&&n| n < latest && !applied.contains(&graph.nodes[n]))
            {
                return Err(Error::new(ErrorKind::OutOfOrder {
                    migration: graph.nodes[early].id(),
                    latest: graph.nodes[latest].id(),
                }));
            }
        }
    }
    Ok(graph
        .topological(&wanted)
        .into_iter()
        .map(|n| Step {
            node: graph.nodes[n],
            direction: Direction::Up,
        })
        .collect())
}

fn plan_down<'a>(
    graph: &Graph<'a>,
    applied: &Applied<'_>,
    target: &Target,
    text: &str,
    stamping: bool,
) -> Result<Vec<Step<'a>>> {
    let is_applied = |n: usize| applied.contains(&graph.nodes[n]);
    // The roots whose descendants are reverted.
    let roots: Vec<usize> = match target {
        Target::Heads | Target::Head(_) => {
            return Err(Error::new(ErrorKind::WrongDirection {
                target: text.to_owned(),
                direction: Direction::Down,
            }));
        }
        Target::Base => (0..graph.nodes.len()).collect(),
        Target::SetBase(set) => graph.set_nodes(set)?.to_vec(),
        Target::Version { set, version } => {
            let node = resolve_version(graph, set.as_deref(), *version, text)?;
            after(graph, node, is_applied, stamping)?
        }
        Target::From {
            set,
            version,
            steps,
        } => {
            let node = resolve_from(graph, set.as_deref(), *version, *steps, text)?;
            after(graph, node, is_applied, stamping)?
        }
        Target::Relative { steps, .. } if *steps > 0 => {
            return Err(Error::new(ErrorKind::WrongDirection {
                target: text.to_owned(),
                direction: Direction::Down,
            }));
        }
        Target::Relative { set, steps } => {
            let set = match set {
                Some(s) => s.as_str(),
                None => {
                    let moving: Vec<&str> = graph
                        .sets
                        .iter()
                        .filter(|(_, ids)| ids.iter().any(|&n| is_applied(n)))
                        .map(|(n, _)| *n)
                        .collect();
                    if moving.is_empty() {
                        // No set can move: not ambiguous, just out of range.
                        return Err(Error::new(ErrorKind::RelativeOutOfRange {
                            target: text.to_owned(),
                            available: 0,
                            direction: Direction::Down,
                        }));
                    }
                    only_set(graph, &moving, text)?
                }
            };
            let done: Vec<usize> = graph
                .set_nodes(set)?
                .iter()
                .copied()
                .filter(|&n| is_applied(n))
                .collect();
            let wanted = usize::try_from(steps.unsigned_abs()).unwrap_or(usize::MAX);
            if wanted > done.len() {
                return Err(Error::new(ErrorKind::RelativeOutOfRange {
                    target: text.to_owned(),
                    available: done.len(),
                    direction: Direction::Down,
                }));
            }
            done[done.len() - wanted..].to_vec()
        }
    };
    let revert: BTreeSet<usize> = graph
        .closure(roots, false)
        .into_iter()
        .filter(|&n| is_applied(n))
        .collect();
    let mut order = graph.topological(&revert);
    order.reverse();
    Ok(order
        .into_iter()
        .map(|n| Step {
            node: graph.nodes[n],
            direction: Direction::Down,
        })
        .collect())
}

/// The migrations after `node` in its set; `node` must be applied unless stamping.
fn after(
    graph: &Graph<'_>,
    node: usize,
    is_applied: impl Fn(usize) -> bool,
    stamping: bool,
) -> Result<Vec<usize>> {
    if !stamping && !is_applied(node) {
        return Err(Error::new(ErrorKind::TargetNotApplied {
            migration: graph.nodes[node].id(),
        }));
    }
    let ids = graph.set_nodes(graph.nodes[node].set())?;
    Ok(ids
        .iter()
        .copied()
        .filter(|&n| graph.nodes[n].version() > graph.nodes[node].version())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn set(name: &str, versions: &[u64]) -> Set {
        let mut s = Set::new(name, "1.0.0").unwrap();
        for v in versions {
            let m = Migration::sql(*v, &format!("m{v}"), format!("SELECT {v}")).unwrap();
            s.add(m.with_down("SELECT 0").unwrap()).unwrap();
        }
        s
    }

    fn applied(sets: &[Set], ids: &[(&str, u64)]) -> Vec<Record> {
        ids.iter()
            .map(|(s, v)| {
                let m = sets
                    .iter()
                    .flat_map(Set::migrations)
                    .find(|m| m.set == *s && m.version == *v)
                    .unwrap();
                Record {
                    set: (*s).to_owned(),
                    version: *v,
                    name: m.name.clone(),
                    checksum: m.checksum.to_string(),
                    normalization: NORMALIZATION,
                    down_sql: Some("SELECT 0".into()),
                    set_version: "1.0.0".into(),
                    applied_at: String::new(),
                    duration_ms: 0,
                    state: RecordState::Applied,
                    in_flight: None,
                }
            })
            .collect()
    }

    fn run(sets: &[Set], records: &[Record], target: &str, op: Operation) -> Result<Vec<String>> {
        let target: Target = target.parse()?;
        Ok(plan(sets, records, &target, op, Policy::default())?
            .iter()
            .map(|s| s.node.id())
            .collect())
    }

    #[test]
    fn a_partial_row_is_pending_up_and_applied_down() -> Result<()> {
        let sets = [set("app", &[1, 2, 3])];
        let mut records = applied(&sets, &[("app", 1), ("app", 2)]);
        records[1].state = RecordState::Partial {
            completed: 1,
            direction: Direction::Up,
        };
        // The operator may have edited its remaining statements: no checksum check.
        records[1].checksum = "00".repeat(32);
        let up = run(&sets, &records, "heads", Operation::Upgrade)?;
        assert_eq!(up, ["app@2_m2", "app@3_m3"]);
        let step = plan(
            &sets,
            &records,
            &Target::Heads,
            Operation::Upgrade,
            Policy::default(),
        )?;
        assert_eq!(resumed(&records, &step[0]), 1);
        assert_eq!(resumed(&records, &step[1]), 0);
        // Its first statement took effect on top of app@1: a downgrade of the set would make
        // the next `up` skip it on a database where it no longer holds. Refused.
        assert_eq!(
            run(&sets, &records, "base", Operation::Downgrade)
                .unwrap_err()
                .to_string(),
            "cannot downgrade the set of migration `app@2_m2` while it is partial (1 statement took effect): finish it with `up` first, then downgrade"
        );

        records[1].state = RecordState::Partial {
            completed: 2,
            direction: Direction::Down,
        };
        records[1].checksum = sets[0].migrations()[1].checksum.to_string();
        assert_eq!(
            run(&sets, &records, "heads", Operation::Upgrade)?,
            ["app@3_m3"]
        );
        let down = plan(
            &sets,
            &records,
            &"1".parse()?,
            Operation::Downgrade,
            Policy::default(),
        )?;
        assert_eq!(down.len(), 1);
        assert_eq!(resumed(&records, &down[0]), 2);
        // A partial row is not dirty: nothing blocks.
        assert!(!records[1].state.is_dirty());
        assert_eq!(records[1].state.as_str(), "partial_down");
        assert_eq!(
            RecordState::from_columns("partial", Some(3)).ok(),
            Some(RecordState::Partial {
                completed: 3,
                direction: Direction::Up
            })
        );
        Ok(())
    }

    #[test]
    fn targets_parse_and_display() -> Result<()> {
        for (text, target) in [
            ("heads", Target::Heads),
            ("base", Target::Base),
            ("core@head", Target::Head("core".into())),
            ("core@base", Target::SetBase("core".into())),
            (
                "12",
                Target::Version {
                    set: None,
                    version: 12,
                },
            ),
            (
                "core@12",
                Target::Version {
                    set: Some("core".into()),
                    version: 12,
                },
            ),
            (
                "+2",
                Target::Relative {
                    set: None,
                    steps: 2,
                },
            ),
            (
                "-1",
                Target::Relative {
                    set: None,
                    steps: -1,
                },
            ),
            (
                "core@-3",
                Target::Relative {
                    set: Some("core".into()),
                    steps: -3,
                },
            ),
            (
                "core@12+2",
                Target::From {
                    set: Some("core".into()),
                    version: 12,
                    steps: 2,
                },
            ),
            (
                "12-1",
                Target::From {
                    set: None,
                    version: 12,
                    steps: -1,
                },
            ),
        ] {
            assert_eq!(text.parse::<Target>()?, target, "{text}");
            assert_eq!(target.to_string(), text);
        }
        for bad in [
            "",
            "latest",
            "@1",
            "core@",
            "+0",
            "+-1",
            "1x",
            "core@v1",
            "99999999999999999999",
        ] {
            assert!(
                matches!(
                    bad.parse::<Target>().unwrap_err().kind(),
                    ErrorKind::InvalidTarget { .. }
                ),
                "{bad}"
            );
        }
        Ok(())
    }

    #[test]
    fn upgrade_follows_parents_and_dependencies() -> Result<()> {
        let core = set("core", &[1, 2, 3]);
        let mut blog = Set::new("blog", "1.0.0")?;
        blog.add(Migration::sql(1, "posts", "SELECT 1")?.depends_on("core", 2))?;
        blog.add(Migration::sql(2, "tags", "SELECT 1")?)?;
        let sets = [core, blog];
        assert_eq!(
            run(&sets, &[], "blog@1", Operation::Upgrade)?,
            ["core@1_m1", "core@2_m2", "blog@1_posts"]
        );
        assert_eq!(
            run(&sets, &[], "heads", Operation::Upgrade)?,
            [
                "core@1_m1",
                "core@2_m2",
                "core@3_m3",
                "blog@1_posts",
                "blog@2_tags"
            ]
        );
        let records = applied(&sets, &[("core", 1), ("core", 2), ("blog", 1)]);
        assert_eq!(
            run(&sets, &records, "heads", Operation::Upgrade)?,
            ["core@3_m3", "blog@2_tags"]
        );
        assert_eq!(
            run(&sets, &records, "blog@+1", Operation::Upgrade)?,
            ["blog@2_tags"]
        );
        Ok(())
    }

    #[test]
    fn downgrade_reverts_dependents_children_first() -> Result<()> {
        let core = set("core", &[1, 2, 3]);
        let mut blog = Set::new("blog", "1.0.0")?;
        blog.add(
            Migration::sql(1, "posts", "SELECT 1")?
                .depends_on("core", 2)
                .with_down("SELECT 0")?,
        )?;
        let sets = [core, blog];
        let records = applied(&sets, &[("core", 1), ("core", 2), ("core", 3), ("blog", 1)]);
        assert_eq!(
            run(&sets, &records, "core@1", Operation::Downgrade)?,
            // The exact reverse of the order an upgrade applies them in.
            ["blog@1_posts", "core@3_m3", "core@2_m2"]
        );
        assert_eq!(
            run(&sets, &records, "core@-1", Operation::Downgrade)?,
            ["core@3_m3"]
        );
        assert_eq!(
            run(&sets, &records, "blog@base", Operation::Downgrade)?,
            ["blog@1_posts"]
        );
        assert_eq!(run(&sets, &records, "base", Operation::Downgrade)?.len(), 4);
        Ok(())
    }

    #[test]
    fn relative_targets_without_a_set_must_be_unambiguous() -> Result<()> {
        let sets = [set("core", &[1, 2]), set("blog", &[1, 2])];
        let err = run(&sets, &[], "+1", Operation::Upgrade).unwrap_err();
        assert_eq!(
            err.to_string(),
            "target `+1` is ambiguous between sets `core`, `blog`: name one, as in `core@+1`"
        );
        // Only one set can move up: no ambiguity.
        let records = applied(&sets, &[("core", 1), ("core", 2)]);
        assert_eq!(
            run(&sets, &records, "+1", Operation::Upgrade)?,
            ["blog@1_m1"]
        );
        assert_eq!(
            run(&sets, &records, "-1", Operation::Downgrade)?,
            ["core@2_m2"]
        );
        Ok(())
    }

    #[test]
    fn graph_errors() -> Result<()> {
        let mut a = Set::new("a", "1.0.0")?;
        a.add(Migration::sql(1, "x", "SELECT 1")?.depends_on("b", 1))?;
        let mut b = Set::new("b", "1.0.0")?;
        b.add(Migration::sql(1, "y", "SELECT 1")?.depends_on("a", 1))?;
        let sets = [a.clone(), b];
        assert_eq!(
            Graph::new(&sets).err().map(|e| e.to_string()).as_deref(),
            Some("migrations depend on each other in a cycle: `a@1_x`, `b@1_y`")
        );
        let alone = [a];
        assert_eq!(
            Graph::new(&alone).err().map(|e| e.to_string()).as_deref(),
            Some("migration `a@1_x` depends on `b@1`, which is not registered")
        );
        Ok(())
    }

    #[test]
    fn stamp_to_a_version_goes_both_ways() -> Result<()> {
        let sets = [set("core", &[1, 2, 3])];
        let records = applied(&sets, &[("core", 1), ("core", 2), ("core", 3)]);
        let steps = plan(
            &sets,
            &records,
            &"core@1".parse()?,
            Operation::Stamp,
            Policy::default(),
        )?;
        let dirs: Vec<(String, Direction)> =
            steps.iter().map(|s| (s.node.id(), s.direction)).collect();
        assert_eq!(
            dirs,
            [
                ("core@3_m3".to_owned(), Direction::Down),
                ("core@2_m2".to_owned(), Direction::Down)
            ]
        );
        let steps = plan(
            &sets,
            &[],
            &"2".parse()?,
            Operation::Stamp,
            Policy::default(),
        )?;
        assert_eq!(steps.len(), 2);
        assert!(steps.iter().all(|s| s.direction == Direction::Up));
        Ok(())
    }

    #[test]
    fn a_plan_never_repeats_a_step_and_respects_parents() -> Result<()> {
        // Several sets with dependencies in both directions between them.
        let mut a = set("a", &[1, 2, 3, 4]);
        let mut b = Set::new("b", "1.0.0")?;
        b.add(
            Migration::sql(1, "x", "SELECT 1")?
                .depends_on("a", 3)
                .with_down("SELECT 0")?,
        )?;
        b.add(Migration::sql(2, "y", "SELECT 1")?.with_down("SELECT 0")?)?;
        a.add(
            Migration::sql(5, "z", "SELECT 1")?
                .depends_on("b", 2)
                .with_down("SELECT 0")?,
        )?;
        let sets = [a, b];
        let up = plan(
            &sets,
            &[],
            &Target::Heads,
            Operation::Upgrade,
            Policy::default(),
        )?;
        let ids: Vec<String> = up.iter().map(|s| s.node.id()).collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
        let pos = |id: &str| ids.iter().position(|i| i == id).unwrap();
        assert!(pos("a@3_m3") < pos("b@1_x"));
        assert!(pos("b@2_y") < pos("a@5_z"));
        assert!(pos("a@4_m4") < pos("a@5_z"));
        // Everything applied, then down to base reverts all of it, children first.
        let records = applied(
            &sets,
            &up.iter()
                .map(|s| (s.node.set(), s.node.version()))
                .collect::<Vec<_>>(),
        );
        let down = plan(
            &sets,
            &records,
            &Target::Base,
            Operation::Downgrade,
            Policy::default(),
        )?;
        let ids: Vec<String> = down.iter().map(|s| s.node.id()).collect();
        assert_eq!(ids.len(), 7);
        let pos = |id: &str| ids.iter().position(|i| i == id).unwrap();
        assert!(pos("a@5_z") < pos("b@2_y"));
        assert!(pos("b@1_x") < pos("a@3_m3"));
        Ok(())
    }
}
