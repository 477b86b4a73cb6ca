//! The nested state dict of a distributed checkpoint, as
//! `_EmptyStateDictLoadPlanner.set_up_planner` builds it (every entry at
//! its `planner_data` path, `_traverse.set_element`), checked to flatten
//! back to the checkpoint's keys as `DefaultLoadPlanner` flattens it
//! (`_traverse.traverse_state_dict`) before it plans the reads.

use std::collections::HashMap;

use airlock_formats::dcp::{EntryKind, Metadata, PathKey};
use airlock_tensors::Node;
use airlock_tensors::write::MAX_DEPTH;

use crate::ConvertError;

/// A dict key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Str(String),
    Int(i64),
}

impl Key {
    /// `str(key)`, as the flattened names join them.
    fn text(&self) -> String {
        match self {
            Key::Str(s) => s.clone(),
            Key::Int(i) => i.to_string(),
        }
    }
}

/// The state dict before its values are loaded: containers, and a
/// placeholder per entry (a tensor, or a value still to load).
#[derive(Debug, Clone, PartialEq)]
enum Slot {
    /// Items in insertion order, and where each key is.
    Dict(Vec<(Key, Slot)>, HashMap<Key, usize>),
    List(Vec<Option<Slot>>),
    /// Entry `index` of the metadata.
    Entry(usize),
}

fn bad(detail: String) -> ConvertError {
    ConvertError::container(format!("planner_data: {detail}"))
}

/// The state dict `dcp_to_torch_save` saves, with `value(fqn)` for each
/// entry.
pub(super) fn state_dict(
    m: &Metadata,
    value: &mut dyn FnMut(&str) -> Result<Node, ConvertError>,
) -> Result<Node, ConvertError> {
    let mut root = Slot::Dict(Vec::new(), HashMap::new());
    for (i, e) in m.entries.iter().enumerate() {
        match m.planner_data.as_ref().and_then(|p| p.get(&e.fqn)) {
            Some(path) => set_element(&mut root, path, i)?,
            None => set_element(&mut root, &[PathKey::Str(e.fqn.clone())], i)?,
        }
    }
    check_flattens(m, &root)?;
    to_node(root, m, value)
}

/// `set_element`: walk (and make) the containers along `path`, dicts for
/// string keys and lists for integer ones (padded with `None`).
fn set_element(root: &mut Slot, path: &[PathKey], entry: usize) -> Result<(), ConvertError> {
    if path.len() > MAX_DEPTH {
        return Err(bad(format!("a path of {} keys", path.len())));
    }
    let mut cur = root;
    for pair in path.windows(2) {
        let (prev, key) = (&pair[0], &pair[1]);
        let fresh = match key {
            PathKey::Str(_) => Slot::Dict(Vec::new(), HashMap::new()),
            PathKey::Int(_) => Slot::List(Vec::new()),
        };
        cur = match cur {
            Slot::Dict(items, at) => {
                let k = dict_key(prev);
                let i = *at.entry(k.clone()).or_insert_with(|| {
                    items.push((k, fresh));
                    items.len() - 1
                });
                &mut items[i].1
            }
            Slot::List(items) => {
                let at = list_index(prev)?;
                if items.len() <= at {
                    items.resize(at + 1, None);
                }
                items[at].get_or_insert(fresh)
            }
            Slot::Entry(_) => return Err(bad(format!("{path:?} goes through a value"))),
        };
    }
    let last = path.last().ok_or_else(|| bad("an empty path".into()))?;
    match (cur, last) {
        (Slot::Dict(items, at), PathKey::Str(s)) => {
            let k = Key::Str(s.clone());
            match at.get(&k) {
                Some(&i) => items[i].1 = Slot::Entry(entry),
                None => {
                    at.insert(k.clone(), items.len());
                    items.push((k, Slot::Entry(entry)));
                }
            }
        }
        (Slot::List(items), PathKey::Int(_)) => {
            let at = list_index(last)?;
            if items.len() <= at {
                items.resize(at + 1, None);
            }
            items[at] = Some(Slot::Entry(entry));
        }
        _ => {
            return Err(bad(format!(
                "{path:?} does not end in a container that takes its last key"
            )));
        }
    }
    Ok(())
}

fn dict_key(k: &PathKey) -> Key {
    match k {
        PathKey::Str(s) => Key::Str(s.clone()),
        PathKey::Int(i) => Key::Int(*i),
    }
}

fn list_index(k: &PathKey) -> Result<usize, ConvertError> {
    match k {
        PathKey::Int(i) => usize::try_from(*i)
            .ok()
            .filter(|&i| i < (1 << 24))
            .ok_or_else(|| bad(format!("list index {i}"))),
        PathKey::Str(s) => Err(bad(format!("{s:?} indexes a list"))),
    }
}

/// Whether a slot is a leaf of `traverse_state_dict`: not a dict, and not a
/// list holding a tensor or a container that is not itself a leaf.
fn is_terminal(slot: Option<&Slot>, m: &Metadata) -> bool {
    match slot {
        Some(Slot::Dict(..)) => false,
        Some(Slot::List(items)) => items.iter().all(|i| match i {
            Some(Slot::Entry(e)) => !matches!(m.entries[*e].kind, EntryKind::Tensor(_)),
            Some(inner @ (Slot::Dict(..) | Slot::List(_))) => is_terminal(Some(inner), m),
            None => true,
        }),
        _ => true,
    }
}

/// Flatten as torch does before it plans the reads, and require the
/// checkpoint's own keys, each naming its own entry, once.
fn check_flattens(m: &Metadata, root: &Slot) -> Result<(), ConvertError> {
    let mut seen = vec![false; m.entries.len()];
    let Slot::Dict(items, _) = root else {
        return Err(bad("the state dict is not a dict".into()));
    };
    let mut stack: Vec<(String, Option<&Slot>)> = items
        .iter()
        .rev()
        .map(|(k, v)| (k.text(), Some(v)))
        .collect();
    while let Some((name, slot)) = stack.pop() {
        match slot {
            Some(Slot::Dict(items, _)) => {
                stack.extend(
                    items
                        .iter()
                        .rev()
                        .map(|(k, v)| (format!("{name}.{}", k.text()), Some(v))),
                );
            }
            Some(Slot::List(items)) if !is_terminal(slot, m) => {
                stack.extend(
                    items
                        .iter()
                        .enumerate()
                        .rev()
                        .map(|(i, v)| (format!("{name}.{i}"), v.as_ref())),
                );
            }
            Some(Slot::Entry(e)) if m.entries[*e].fqn == name && !seen[*e] => seen[*e] = true,
            _ => {
                return Err(bad(format!(
                    "the nested state dict flattens to {name:?}, which is not one of the checkpoint's keys: torch's load fails (or takes its 2.3 compatibility path)"
                )));
            }
        }
    }
    match seen.iter().position(|s| !s) {
        Some(i) => Err(bad(format!("{} is not reached", m.entries[i].fqn))),
        None => Ok(()),
    }
}

fn to_node(
    slot: Slot,
    m: &Metadata,
    value: &mut dyn FnMut(&str) -> Result<Node, ConvertError>,
) -> Result<Node, ConvertError> {
    Ok(match slot {
        Slot::Dict(items, _) => Node::Dict(
            items
                .into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Key::Str(s) => Node::Str(s),
                        Key::Int(i) => Node::Int(i),
                    };
                    Ok((key, to_node(v, m, value)?))
                })
                .collect::<Result<_, ConvertError>>()?,
        ),
        Slot::List(items) => Node::List(
            items
                .into_iter()
                .map(|i| match i {
                    Some(s) => to_node(s, m, value),
                    None => Ok(Node::None),
                })
                .collect::<Result<_, _>>()?,
        ),
        Slot::Entry(e) => value(&m.entries[e].fqn)?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use airlock_formats::dcp::{Entry, TensorEntry};

    use super::*;

    fn s(x: &str) -> PathKey {
        PathKey::Str(x.into())
    }

    fn metadata(entries: &[(&str, bool, Vec<PathKey>)]) -> Metadata {
        Metadata {
            entries: entries
                .iter()
                .map(|(fqn, tensor, _)| Entry {
                    fqn: fqn.to_string(),
                    kind: if *tensor {
                        EntryKind::Tensor(TensorEntry {
                            dtype: "float32".into(),
                            size: vec![],
                            chunks: vec![],
                        })
                    } else {
                        EntryKind::Bytes
                    },
                })
                .collect(),
            planner_data: Some(
                entries
                    .iter()
                    .map(|(fqn, _, path)| (fqn.to_string(), path.clone()))
                    .collect::<HashMap<_, _>>(),
            ),
            storage: Vec::new(),
            version: None,
            classes: Default::default(),
        }
    }

    fn build(m: &Metadata) -> Result<Node, ConvertError> {
        state_dict(m, &mut |fqn| Ok(Node::Str(fqn.to_string())))
    }

    /// `{"optim": {"param_groups": [{"lr": .., "params": ..}]}, "w": ..}`,
    /// as an optimizer's state dict nests.
    #[test]
    fn paths_make_dicts_and_lists() {
        let m = metadata(&[
            (
                "optim.param_groups.0.lr",
                false,
                vec![s("optim"), s("param_groups"), PathKey::Int(0), s("lr")],
            ),
            (
                "optim.param_groups.0.params",
                false,
                vec![s("optim"), s("param_groups"), PathKey::Int(0), s("params")],
            ),
            ("w", true, vec![s("w")]),
            ("ts.0", true, vec![s("ts"), PathKey::Int(0)]),
            ("ts.1", false, vec![s("ts"), PathKey::Int(1)]),
        ]);
        let leaf = |x: &str| Node::Str(x.into());
        let key = |x: &str| Node::Str(x.into());
        assert_eq!(
            build(&m).unwrap(),
            Node::Dict(vec![
                (
                    key("optim"),
                    Node::Dict(vec![(
                        key("param_groups"),
                        Node::List(vec![Node::Dict(vec![
                            (key("lr"), leaf("optim.param_groups.0.lr")),
                            (key("params"), leaf("optim.param_groups.0.params")),
                        ])])
                    )])
                ),
                (key("w"), leaf("w")),
                (key("ts"), Node::List(vec![leaf("ts.0"), leaf("ts.1")])),
            ])
        );
    }

    /// Nesting that torch would not flatten back to the checkpoint's keys:
    /// a list of values only is one value to torch ("a", not "a.0"); a name
    /// that is not its path; a hole in a list.
    #[test]
    fn nesting_that_does_not_flatten_back_is_refused() {
        for m in [
            metadata(&[("a.0", false, vec![s("a"), PathKey::Int(0)])]),
            metadata(&[("b", false, vec![s("x"), s("y")])]),
            metadata(&[("ts.1", true, vec![s("ts"), PathKey::Int(1)])]),
            metadata(&[
                ("a", false, vec![s("a")]),
                ("a.b", false, vec![s("a"), s("b")]),
            ]),
            metadata(&[("a", false, vec![s("a"), PathKey::Int(-1)])]),
            metadata(&[("a", false, vec![s("a"); 300])]),
        ] {
            let e = build(&m).unwrap_err().to_string();
            assert!(e.contains("planner_data"), "{e}");
        }
    }
}
