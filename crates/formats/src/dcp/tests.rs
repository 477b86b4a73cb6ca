use super::*;
use crate::source::MemSource;

fn fixture(path: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/dcp");
    std::fs::read(dir.join(path)).unwrap()
}

fn metadata(folder: &str) -> Metadata {
    let data = fixture(&format!("{folder}/.metadata"));
    let analysis = airlock_pickle::EngineConfig {
        max_pickles: Some(1),
        ..Default::default()
    }
    .analyze(&data);
    assert!(Metadata::is_metadata(&analysis));
    Metadata::read(&analysis).unwrap()
}

#[test]
fn reads_the_metadata_torch_wrote() {
    let m = metadata("model");
    let names: Vec<&str> = m.entries.iter().map(|e| e.fqn.as_str()).collect();
    assert_eq!(
        names,
        [
            "encoder.weight",
            "encoder.weight_t",
            "encoder.row",
            "encoder.bias",
            "encoder.scale",
            "positions",
            "mask",
            "bytes",
            "temperature",
            "empty"
        ]
    );
    let EntryKind::Tensor(t) = &m.entry("encoder.weight_t").unwrap().kind else {
        panic!("a tensor")
    };
    assert_eq!(
        (t.dtype.as_str(), t.size.as_slice()),
        ("float32", &[4u64, 3][..])
    );
    assert_eq!(
        t.chunks,
        [Chunk {
            offsets: vec![0, 0],
            sizes: vec![4, 3]
        }]
    );
    let EntryKind::Tensor(t) = &m.entry("temperature").unwrap().kind else {
        panic!("a tensor")
    };
    assert!(t.size.is_empty() && t.chunks.len() == 1);
    assert_eq!(m.version.as_deref(), Some("1.0.0"));
    assert_eq!(m.files(), ["__0_0.distcp"]);
    assert_eq!(
        m.planner_data.as_ref().unwrap()["encoder.bias"],
        [PathKey::Str("encoder".into()), PathKey::Str("bias".into())]
    );
    for c in [
        METADATA,
        TENSOR_STORAGE,
        TENSOR_PROPERTIES,
        CHUNK,
        INDEX,
        STORAGE_INFO,
        MEM_FORMAT,
    ] {
        assert!(m.classes.contains(c), "{c}");
    }
    // The empty tensor's chunk overlaps nothing: torch never reads it.
    let reads = m.reads().unwrap();
    assert_eq!(reads.len(), 9);
    assert!(reads.iter().all(|r| r.fqn != "empty"));
    for e in &m.entries {
        if let EntryKind::Tensor(t) = &e.kind {
            check_chunks(&e.fqn, t).unwrap();
        }
    }
}

#[test]
fn values_and_paths_of_a_training_checkpoint() {
    let m = metadata("training");
    assert_eq!(m.files().len(), 2);
    let bytes: Vec<&str> = m
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Bytes)
        .map(|e| e.fqn.as_str())
        .collect();
    assert!(bytes.contains(&"optim.param_groups.0.betas") && bytes.contains(&"config.warmup"));
    assert_eq!(
        m.planner_data.as_ref().unwrap()["optim.param_groups.0.lr"],
        [
            PathKey::Str("optim".into()),
            PathKey::Str("param_groups".into()),
            PathKey::Int(0),
            PathKey::Str("lr".into())
        ]
    );
    let reads = m.reads().unwrap();
    assert_eq!(reads.len(), m.entries.len());
    let r = reads.iter().find(|r| r.fqn == "epoch").unwrap();
    assert_eq!(r.kind, ReadKind::Bytes);
    assert_eq!(r.label, format!("epoch@{}", r.item.offset));
}

#[test]
fn sharded_tensors_are_read_chunk_by_chunk() {
    let m = metadata("sharded");
    let reads = m.reads().unwrap();
    let cols: Vec<_> = reads.iter().filter(|r| r.fqn == "cols").collect();
    assert_eq!(cols.len(), 2);
    let files: BTreeSet<&str> = cols.iter().map(|r| r.item.relative_path.as_str()).collect();
    assert_eq!(files.len(), 2);
    let ReadKind::Tensor {
        dest_offsets,
        lengths,
        ..
    } = &cols[1].kind
    else {
        panic!("a tensor read")
    };
    assert_eq!(
        (dest_offsets.as_slice(), lengths.as_slice()),
        (&[0u64, 2][..], &[6u64, 2][..])
    );
    for e in &m.entries {
        if let EntryKind::Tensor(t) = &e.kind {
            check_chunks(&e.fqn, t).unwrap();
        }
    }
    let items = m.shard_items("__1_0.distcp");
    assert!(
        items
            .iter()
            .any(|i| i.label.starts_with("step@") && i.as_value && !i.as_tensor)
    );
    assert!(
        items
            .iter()
            .any(|i| i.label.starts_with("rows@") && i.as_tensor)
    );
}

#[test]
fn chunks_that_overlap_or_leave_holes_are_refused() {
    let t = |chunks: &[(u64, u64)]| TensorEntry {
        dtype: "float32".into(),
        size: vec![4],
        chunks: chunks
            .iter()
            .map(|&(o, s)| Chunk {
                offsets: vec![o],
                sizes: vec![s],
            })
            .collect(),
    };
    check_chunks("a", &t(&[(0, 2), (2, 2)])).unwrap();
    let overlap = check_chunks("a", &t(&[(0, 3), (2, 2)]))
        .unwrap_err()
        .to_string();
    assert!(overlap.contains("overlap"), "{overlap}");
    let hole = check_chunks("a", &t(&[(0, 2)])).unwrap_err().to_string();
    assert!(hole.contains("uninitialised"), "{hole}");
    // A chunk reaching past the tensor is clipped, as torch narrows it.
    check_chunks("a", &t(&[(0, 2), (2, 9)])).unwrap();
}

#[test]
fn storage_paths_stay_in_the_folder() {
    check_relative_path("__0_0.distcp").unwrap();
    check_relative_path("sub/__0_0.distcp").unwrap();
    for bad in ["", "/etc/passwd", "../x.distcp", "a/../../b", ".", "a\0b"] {
        assert!(check_relative_path(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn the_payload_before_the_metadata_does_not_hide_it() {
    let m = metadata("malicious-metadata");
    assert_eq!(m.entries.len(), 10);
}

#[test]
fn a_shard_splits_into_its_zips_without_its_metadata() {
    let data = fixture("model/__0_0.distcp");
    let items = split_shard(&MemSource::new(&data)).unwrap();
    let m = metadata("model");
    let mut want: Vec<(u64, u64)> = m
        .storage
        .iter()
        .map(|(_, i)| (i.offset, i.length))
        .collect();
    want.sort();
    assert_eq!(items, want);
    // One item is a plain torch ZIP; garbage and cut files do not split.
    assert!(split_shard(&MemSource::new(&fixture("per-item/__0_0.distcp"))).is_none());
    assert!(split_shard(&MemSource::new(&data[..data.len() - 1])).is_none());
    let mut trailing = data.clone();
    trailing.extend_from_slice(b"junk");
    assert!(split_shard(&MemSource::new(&trailing)).is_none());
}

#[test]
fn sniffed_by_content() {
    let sniff = |b: &[u8]| crate::sniff(&MemSource::new(b)).unwrap();
    assert_eq!(
        sniff(&fixture("model/.metadata")),
        crate::Format::DcpMetadata
    );
    assert_eq!(
        sniff(&fixture("malicious-metadata/.metadata")),
        crate::Format::DcpMetadata
    );
    assert_eq!(
        sniff(&fixture("model/__0_0.distcp")),
        crate::Format::DcpShard
    );
    // One item alone is a torch.save ZIP.
    assert_eq!(
        sniff(&fixture("per-item/__0_0.distcp")),
        crate::Format::TorchZip
    );
}
