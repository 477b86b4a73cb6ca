//! Frames read two ways: `pickle.loads` reads a frame's bytes like any
//! others; the C unpickler reading a file serves reads from the bytes a
//! `FRAME` fetched and, when a read needs more, drops the rest of them and
//! reads on after the frame. The engine records the first read that
//! crosses a frame's end and, with `file_frames`, reads as the file reader
//! does. The stream below is the one fickling's
//! `test_frame_boundary_divergence` builds (without its read-ahead padding,
//! which only a buffered file needs), with a harmless command.

use airlock_pickle::{EngineConfig, EventKind, Value};

/// `FRAME` of 2 bytes holding `BINBYTES` and one byte of its length.
fn divergent() -> Vec<u8> {
    let hidden = b"cos\nsystem\nVecho airlock\n\x85R(".to_vec();
    let mut p = b"\x80\x05(\x95".to_vec();
    p.extend(2u64.to_le_bytes());
    p.extend(b"B\x07\x01\x00\x00\x00\x00");
    let mut padded = hidden;
    padded.resize(261, b'N');
    p.extend(padded);
    p.extend(b"1.");
    p
}

fn imports(cfg: &EngineConfig, data: &[u8]) -> (Vec<String>, Option<usize>) {
    let a = cfg.analyze(data);
    let names = a
        .events()
        .filter_map(|e| match e.kind {
            EventKind::Import(id) => a.graph.global(Value::object(id)).map(|g| g.qualified()),
            _ => None,
        })
        .collect();
    (names, a.pickles[0].frame_straddle)
}

#[test]
fn bytes_and_files_read_a_straddling_frame_differently() {
    let data = divergent();
    let (linear, straddle) = imports(&EngineConfig::default(), &data);
    assert!(
        linear.is_empty(),
        "pickle.loads reads one bytestring: {linear:?}"
    );
    assert_eq!(
        straddle,
        Some(13),
        "the length read at byte 13 crosses the frame's end"
    );

    let file = EngineConfig {
        file_frames: true,
        ..EngineConfig::default()
    };
    let (from_file, straddle) = imports(&file, &data);
    assert_eq!(
        from_file,
        ["os.system"],
        "pickle.load(f) runs the hidden call"
    );
    assert_eq!(straddle, Some(13));
}

#[test]
fn frames_as_picklers_write_them_are_read_alike() {
    // An opcode that ends exactly at the frame's end, then bytes outside
    // any frame (how the framer writes large bytes), then a second frame.
    let mut p = b"\x80\x05\x95".to_vec();
    p.extend(5u64.to_le_bytes());
    p.extend(b"B\x03\x00\x00\x00abc");
    p.push(b'\x95');
    p.extend(2u64.to_le_bytes());
    p.extend(b"0N.");
    for file_frames in [false, true] {
        let cfg = EngineConfig {
            file_frames,
            ..EngineConfig::default()
        };
        let a = cfg.analyze(&p);
        assert!(a.error().is_none(), "{:?}", a.error());
        assert_eq!(a.pickles[0].frame_straddle, None);
    }
}
