use std::path::{Path, PathBuf};

use super::board::{detect_name, memory_below, model_below};
use super::*;

/// An npub and its hex, from NIP-19's examples.
const NPUB: &str = "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg";
const NPUB_HEX: &str = "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e";

#[test]
fn flags_win_over_env_which_wins_over_the_file() {
    let dir = tempdir();
    let file = write(
        &dir,
        "node.toml",
        "listen = \"0.0.0.0:30000\"\nwritable = false\nboard = \"rpi-3\"\ndebug = true\n\
         owner = \"0000000000000000000000000000000000000000000000000000000000000001\"\n",
    );
    let env = env(&[
        ("NOSTRP2P_LISTEN", "0.0.0.0:31000"),
        ("NOSTRP2P_BOARD", "rpi-5"),
        ("NOSTRP2P_OWNER", NPUB),
        ("NOSTRP2P_DATA_DIR", "/srv/env"),
    ]);
    let flags = RawConfig {
        listen: Some("127.0.0.1:32000".into()),
        data_dir: Some("/srv/flag".into()),
        ..RawConfig::default()
    };
    let config = resolve(flags, Some(file.clone()), &env, &pi4()).unwrap();
    assert_eq!(config.listen, "127.0.0.1:32000".parse().unwrap()); // flag over env and file
    assert_eq!(config.data_dir, PathBuf::from("/srv/flag")); // flag over env
    assert_eq!(config.board.name, "rpi-5"); // env over file
    assert_eq!(
        config.board_choice,
        BoardChoice::Named {
            by: "environment NOSTRP2P_BOARD".into()
        }
    );
    assert_eq!(config.owner.unwrap().to_hex(), NPUB_HEX); // env over file
    assert!(!config.writable); // file over default
    assert!(config.debug); // file over default
    assert_eq!(config.config_file, Some(file));
}

#[test]
fn defaults_fill_what_no_layer_sets() {
    let dir = tempdir();
    let config = resolve(flags_with_dir(&dir), None, &[], &pi4()).unwrap();
    assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(config.api_addr().to_string(), "0.0.0.0:20001");
    assert_eq!(config.ws_addr().to_string(), "0.0.0.0:20002");
    assert!(config.boot_peers.is_empty());
    assert_eq!(config.owner, None);
    assert_eq!(config.writable, DEFAULT_WRITABLE);
    assert_eq!(config.debug, DEFAULT_DEBUG);
    assert_eq!(config.tls, None);
    assert_eq!(config.config_file, None);
    assert_eq!(config.board.name, "rpi-4");
    assert!(matches!(config.board_choice, BoardChoice::Detected { .. }));
}

#[test]
fn a_later_list_replaces_an_earlier_one() {
    let dir = tempdir();
    write(
        &dir,
        CONFIG_FILE_NAME,
        "boot_peers = [\"a.example:1\", \"b.example:2\"]\n",
    );
    let only_file = resolve(flags_with_dir(&dir), None, &[], &pi4()).unwrap();
    assert_eq!(peers(&only_file), ["a.example:1", "b.example:2"]);

    let env = env(&[("NOSTRP2P_BOOT_PEERS", "c.example:3, d.example:4")]);
    let with_env = resolve(flags_with_dir(&dir), None, &env, &pi4()).unwrap();
    assert_eq!(peers(&with_env), ["c.example:3", "d.example:4"]);

    let flags = RawConfig {
        boot_peers: Some(vec!["[::1]:5".into()]),
        ..flags_with_dir(&dir)
    };
    let with_flags = resolve(flags, None, &env, &pi4()).unwrap();
    assert_eq!(peers(&with_flags), ["[::1]:5"]);

    // An empty list in a later layer clears the earlier one.
    let flags = RawConfig {
        boot_peers: Some(vec![]),
        ..flags_with_dir(&dir)
    };
    assert!(
        resolve(flags, None, &env, &pi4())
            .unwrap()
            .boot_peers
            .is_empty()
    );
}

#[test]
fn boot_peers_split_commas_and_drop_duplicates() {
    let dir = tempdir();
    let flags = RawConfig {
        boot_peers: Some(vec![
            "ryogrid.net:8888,10.0.0.2:20000".into(),
            "ryogrid.net:8888".into(),
            " ,".into(),
        ]),
        ..flags_with_dir(&dir)
    };
    let config = resolve(flags, None, &[], &pi4()).unwrap();
    assert_eq!(peers(&config), ["ryogrid.net:8888", "10.0.0.2:20000"]);
    assert_eq!(
        config.boot_peers[1].socket_addr(),
        Some("10.0.0.2:20000".parse().unwrap())
    );
    assert_eq!(config.boot_peers[0].ip(), None);
}

#[test]
fn raw_merge_takes_the_later_value_field_by_field() {
    let early = RawConfig {
        listen: Some("0.0.0.0:1".into()),
        boot_peers: Some(vec!["a:1".into(), "b:2".into()]),
        writable: Some(false),
        tls_key: Some("k.pem".into()),
        ..RawConfig::default()
    };
    let later = RawConfig {
        listen: Some("0.0.0.0:2".into()),
        boot_peers: Some(vec!["c:3".into()]),
        debug: Some(true),
        ..RawConfig::default()
    };
    let merged = early.merge(later);
    assert_eq!(merged.listen.as_deref(), Some("0.0.0.0:2"));
    assert_eq!(merged.boot_peers, Some(vec!["c:3".to_owned()]));
    assert_eq!(merged.writable, Some(false));
    assert_eq!(merged.debug, Some(true));
    assert_eq!(merged.tls_key, Some(PathBuf::from("k.pem")));
    assert_eq!(merged.owner, None);
}

#[test]
fn an_unknown_file_key_is_named_with_the_known_ones() {
    let dir = tempdir();
    let file = write(&dir, "typo.toml", "lisen = \"0.0.0.0:20000\"\n");
    let msg = resolve_err(RawConfig::default(), Some(file.clone()), &[]);
    assert!(msg.starts_with(&file.display().to_string()), "{msg}");
    assert!(msg.contains("unknown key \"lisen\""), "{msg}");
    assert!(msg.contains("listen, boot_peers"), "{msg}");

    // `config` is a flag and a variable, not a file key.
    let file = write(&dir, "nested.toml", "config = \"other.toml\"\n");
    let msg = resolve_err(RawConfig::default(), Some(file), &[]);
    assert!(msg.contains("unknown key \"config\""), "{msg}");
}

#[test]
fn an_unknown_env_var_is_named() {
    let dir = tempdir();
    let env = env(&[("NOSTRP2P_LISTN", "0.0.0.0:1")]);
    let msg = resolve_err(flags_with_dir(&dir), None, &env);
    assert!(
        msg.starts_with("environment NOSTRP2P_LISTN: unknown variable"),
        "{msg}"
    );
    assert!(msg.contains("NOSTRP2P_LISTEN"), "{msg}");

    // Test-harness variables and other programs' variables pass.
    let env = env_pairs(&[
        ("NOSTRP2P_ROOT_TESTS", "1"),
        ("NOSTRP2P_SIM_SEED", "7"),
        ("PATH", "/bin"),
    ]);
    assert!(resolve(flags_with_dir(&dir), None, &env, &pi4()).is_ok());
}

#[test]
fn an_empty_env_value_counts_as_unset() {
    let dir = tempdir();
    let env = env(&[
        ("NOSTRP2P_LISTEN", ""),
        ("NOSTRP2P_OWNER", ""),
        ("NOSTRP2P_DEBUG", ""),
    ]);
    let config = resolve(flags_with_dir(&dir), None, &env, &pi4()).unwrap();
    assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(config.owner, None);
}

#[test]
fn a_listen_port_above_65533_is_refused_naming_the_source() {
    let dir = tempdir();
    let file = write(&dir, "node.toml", "listen = \"0.0.0.0:65534\"\n");
    let msg = resolve_err(flags_with_dir(&dir), Some(file.clone()), &[]);
    let expected_start = format!("{}: key \"listen\": expected host:port", file.display());
    assert!(msg.starts_with(&expected_start), "{msg}");
    assert!(msg.contains("port <= 65533"), "{msg}");
    assert!(msg.ends_with("got \"0.0.0.0:65534\""), "{msg}");

    let env = env(&[("NOSTRP2P_LISTEN", "0.0.0.0:65536")]);
    let msg = resolve_err(flags_with_dir(&dir), None, &env);
    assert!(
        msg.starts_with("environment NOSTRP2P_LISTEN: expected"),
        "{msg}"
    );

    let flags = RawConfig {
        listen: Some("nostr.example:20000".into()),
        ..flags_with_dir(&dir)
    };
    let msg = resolve_err(flags, None, &[]);
    assert!(
        msg.starts_with("flag -l/--listen-addr-port: expected"),
        "{msg}"
    );

    let flags = RawConfig {
        listen: Some("[::]:65533".into()),
        ..flags_with_dir(&dir)
    };
    let config = resolve(flags, None, &[], &pi4()).unwrap();
    assert_eq!(config.ws_addr().to_string(), "[::]:65535");

    // P = 0: the OS chooses every port.
    let flags = RawConfig {
        listen: Some("127.0.0.1:0".into()),
        ..flags_with_dir(&dir)
    };
    let config = resolve(flags, None, &[], &pi4()).unwrap();
    assert_eq!(config.api_addr().to_string(), "127.0.0.1:0");
    assert_eq!(config.ws_addr().to_string(), "127.0.0.1:0");
}

#[test]
fn listen_accepts_ip_literals_localhost_and_an_empty_host() {
    let ok = [
        ("0.0.0.0:20000", "0.0.0.0:20000"),
        ("192.168.1.5:1", "192.168.1.5:1"),
        ("localhost:20000", "127.0.0.1:20000"),
        ("LOCALHOST:20000", "127.0.0.1:20000"),
        (":20000", "0.0.0.0:20000"),
        ("[::1]:20000", "[::1]:20000"),
        ("[::]:65533", "[::]:65533"),
        ("127.0.0.1:0", "127.0.0.1:0"),
    ];
    for (given, want) in ok {
        assert_eq!(
            addr::parse_listen(given).map(|a| a.to_string()).as_deref(),
            Some(want),
            "{given}"
        );
    }
    let bad = [
        "0.0.0.0:65534",
        "0.0.0.0",
        "::1:20000",
        "[::1]20000",
        "[127.0.0.1]:20000",
        "example.com:20000",
        "0.0.0.0:+2000",
        "0.0.0.0:020000",
        "0.0.0.0: 2000",
        "",
    ];
    for given in bad {
        assert_eq!(addr::parse_listen(given), None, "{given}");
    }
}

#[test]
fn peer_addresses_parse_and_display() {
    let ok = [
        ("ryogrid.net:8888", "ryogrid.net:8888"),
        ("node-1.home.arpa.:65535", "node-1.home.arpa.:65535"),
        ("10.0.0.1:20000", "10.0.0.1:20000"),
        ("[::1]:20000", "[::1]:20000"),
        ("[2001:db8::1]:1", "[2001:db8::1]:1"),
        ("localhost:20000", "localhost:20000"),
    ];
    for (given, want) in ok {
        let peer: PeerAddr = given.parse().unwrap_or_else(|e| panic!("{given}: {e}"));
        assert_eq!(peer.to_string(), want);
    }
    assert_eq!("[::1]:20000".parse::<PeerAddr>().unwrap().host, "::1");
    let bad = [
        "ryogrid.net",
        "ryogrid.net:0",
        "ryogrid.net:65536",
        "192.168.1:80",
        "-bad.example:1",
        "bad-.example:1",
        "two..dots:1",
        "under_score.example:1",
        "::1:20000",
        "[example.com]:1",
        ":20000",
    ];
    for given in bad {
        assert_eq!(given.parse::<PeerAddr>(), Err(PeerAddrError), "{given}");
    }
    let long_label = format!("{}.example:1", "a".repeat(64));
    assert!(long_label.parse::<PeerAddr>().is_err());
}

#[test]
fn a_bad_boot_peer_is_named_with_its_source() {
    let dir = tempdir();
    let env = env(&[("NOSTRP2P_BOOT_PEERS", "ok.example:1,nope")]);
    let msg = resolve_err(flags_with_dir(&dir), None, &env);
    assert!(
        msg.starts_with("environment NOSTRP2P_BOOT_PEERS: expected host:port"),
        "{msg}"
    );
    assert!(msg.ends_with("got \"nope\""), "{msg}");

    let too_many: Vec<String> = (1..=BOOT_PEERS_MAX + 1)
        .map(|p| format!("peer.example:{p}"))
        .collect();
    let flags = RawConfig {
        boot_peers: Some(too_many),
        ..flags_with_dir(&dir)
    };
    let msg = resolve_err(flags, None, &[]);
    assert!(msg.contains("at most 64 boot peers"), "{msg}");
}

#[test]
fn a_bad_owner_is_named_but_never_quoted() {
    let dir = tempdir();
    let nsec = "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5";
    let env = env(&[("NOSTRP2P_OWNER", nsec)]);
    let msg = resolve_err(flags_with_dir(&dir), None, &env);
    assert!(
        msg.starts_with("environment NOSTRP2P_OWNER: expected an npub1…"),
        "{msg}"
    );
    assert!(!msg.contains(nsec), "{msg}");
    assert!(msg.contains("got an nsec, a secret key"), "{msg}");

    let file = write(
        &dir,
        "owner.toml",
        &format!("owner = \"{}\"\n", &NPUB_HEX[1..]),
    );
    let msg = resolve_err(flags_with_dir(&dir), Some(file.clone()), &[]);
    assert!(
        msg.starts_with(&format!("{}: key \"owner\"", file.display())),
        "{msg}"
    );
    assert!(!msg.contains(&NPUB_HEX[1..]), "{msg}");

    let flags = RawConfig {
        owner: Some(NPUB_HEX.to_uppercase()),
        ..flags_with_dir(&dir)
    };
    let msg = resolve_err(flags, None, &[]);
    assert!(msg.starts_with("flag -p/--public-key: expected"), "{msg}");
}

#[test]
fn a_bad_bool_names_its_source() {
    let dir = tempdir();
    let env = env(&[("NOSTRP2P_WRITABLE", "yes please")]);
    assert_eq!(
        resolve_err(flags_with_dir(&dir), None, &env),
        "environment NOSTRP2P_WRITABLE: expected true or false (or 1 or 0), got \"yes please\""
    );
    for (given, want) in [("1", true), ("0", false), ("TRUE", true), ("False", false)] {
        let env = env_pairs(&[("NOSTRP2P_DEBUG", given)]);
        assert_eq!(
            resolve(flags_with_dir(&dir), None, &env, &pi4())
                .unwrap()
                .debug,
            want
        );
    }

    let file = write(&dir, "bool.toml", "ssl = \"yes\"\n");
    assert_eq!(
        resolve_err(flags_with_dir(&dir), Some(file.clone()), &[]),
        format!(
            "{}: key \"ssl\": expected true or false, got \"yes\"",
            file.display()
        )
    );
    let file = write(&dir, "list.toml", "boot_peers = \"a.example:1\"\n");
    let msg = resolve_err(flags_with_dir(&dir), Some(file), &[]);
    assert!(
        msg.contains("key \"boot_peers\": expected an array"),
        "{msg}"
    );
    let file = write(&dir, "items.toml", "boot_peers = [\"a.example:1\", 2]\n");
    let msg = resolve_err(flags_with_dir(&dir), Some(file), &[]);
    assert!(msg.ends_with("got 2"), "{msg}");
}

#[test]
fn a_toml_syntax_error_names_file_and_line() {
    let dir = tempdir();
    let file = write(
        &dir,
        "broken.toml",
        "debug = true\n\nlisten = \"0.0.0.0:20000\n",
    );
    let msg = resolve_err(flags_with_dir(&dir), Some(file.clone()), &[]);
    let start = format!("{}: TOML syntax error at line 3,", file.display());
    assert!(msg.starts_with(&start), "{msg}");

    let file = write(&dir, "dup.toml", "debug = true\ndebug = false\n");
    let msg = resolve_err(flags_with_dir(&dir), Some(file), &[]);
    assert!(msg.contains("at line 2,"), "{msg}");
}

#[test]
fn unreadable_missing_large_and_binary_files_are_named() {
    let dir = tempdir();
    let missing = dir.path().join("absent.toml");
    let msg = resolve_err(flags_with_dir(&dir), Some(missing.clone()), &[]);
    assert_eq!(
        msg,
        format!(
            "config file {} (given by flag --config) does not exist",
            missing.display()
        )
    );
    let env = env(&[("NOSTRP2P_CONFIG", missing.to_str().unwrap())]);
    let msg = resolve_err(flags_with_dir(&dir), None, &env);
    assert!(
        msg.contains("(given by environment NOSTRP2P_CONFIG)"),
        "{msg}"
    );

    // A data dir that is a file has no config.toml: the daemon reports the data dir itself.
    let not_a_dir = write(&dir, "a-file", "x");
    let flags = RawConfig {
        data_dir: Some(not_a_dir.clone()),
        ..RawConfig::default()
    };
    let config = resolve(flags, None, &[], &pi4()).unwrap();
    assert_eq!(config.data_dir, not_a_dir);

    // A directory opens but cannot be read as a file: the OS error is shown.
    let msg = resolve_err(flags_with_dir(&dir), Some(dir.path().to_owned()), &[]);
    assert!(
        msg.starts_with(&format!(
            "cannot read config file {}: ",
            dir.path().display()
        )),
        "{msg}"
    );

    let large = "#".repeat(usize::try_from(crate::limits::CONFIG_FILE_MAX).unwrap() + 1);
    let file = write(&dir, "large.toml", &large);
    let msg = resolve_err(flags_with_dir(&dir), Some(file), &[]);
    assert!(msg.contains("larger than 65536 bytes"), "{msg}");

    let file = dir.path().join("binary.toml");
    std::fs::write(&file, [0xff, 0xfe, 0x00]).unwrap();
    let msg = resolve_err(flags_with_dir(&dir), Some(file), &[]);
    assert!(msg.ends_with("not UTF-8 text"), "{msg}");
}

#[test]
fn the_data_dir_config_toml_is_read_when_present() {
    let dir = tempdir();
    let file = write(
        &dir,
        CONFIG_FILE_NAME,
        "listen = \"0.0.0.0:40000\"\nssl = true\n",
    );
    let env = env(&[("NOSTRP2P_DATA_DIR", dir.path().to_str().unwrap())]);
    let config = resolve(RawConfig::default(), None, &env, &pi4()).unwrap();
    assert_eq!(config.config_file, Some(file));
    assert_eq!(config.listen.port(), 40_000);
    assert_eq!(
        config.tls,
        Some(TlsFiles {
            cert: DEFAULT_TLS_CERT.into(),
            key: DEFAULT_TLS_KEY.into()
        })
    );
}

#[test]
fn the_data_dir_config_toml_may_not_set_data_dir() {
    let dir = tempdir();
    let file = write(&dir, CONFIG_FILE_NAME, "data_dir = \"/elsewhere\"\n");
    let msg = resolve_err(flags_with_dir(&dir), None, &[]);
    assert!(
        msg.starts_with(&format!(
            "{}: key \"data_dir\" is not allowed",
            file.display()
        )),
        "{msg}"
    );

    // A file given explicitly may, and the data dir's config.toml is then not read.
    let other = tempdir();
    let explicit = write(
        &other,
        "node.toml",
        &format!(
            "data_dir = {:?}\n",
            other.path().join("data").display().to_string()
        ),
    );
    let config = resolve(RawConfig::default(), Some(explicit.clone()), &[], &pi4()).unwrap();
    assert_eq!(config.data_dir, other.path().join("data"));
    assert_eq!(config.config_file, Some(explicit));
}

#[test]
fn the_default_data_dir_prefers_state_directory_then_xdg_then_home() {
    let all = [
        ("HOME", "/home/u"),
        ("XDG_DATA_HOME", "/home/u/xdg"),
        ("STATE_DIRECTORY", "/var/lib/nostrp2p:/var/lib/other"),
    ];
    let dir = |pairs: &[(&str, &str)]| default_data_dir(&env_pairs(pairs));
    assert_eq!(dir(&all), Some(PathBuf::from("/var/lib/nostrp2p")));
    assert_eq!(
        state_directory(&env_pairs(&all)),
        Some(PathBuf::from("/var/lib/nostrp2p"))
    );
    assert_eq!(dir(&all[..2]), Some(PathBuf::from("/home/u/xdg/nostrp2p")));
    assert_eq!(state_directory(&env_pairs(&all[..2])), None);
    assert_eq!(
        dir(&all[..1]),
        Some(PathBuf::from("/home/u/.local/share/nostrp2p"))
    );
    // Empty and relative values are passed over, as the XDG spec asks.
    let skipped = [
        ("HOME", "/home/u"),
        ("XDG_DATA_HOME", "rel"),
        ("STATE_DIRECTORY", ""),
    ];
    assert_eq!(
        dir(&skipped),
        Some(PathBuf::from("/home/u/.local/share/nostrp2p"))
    );
    assert_eq!(dir(&[("HOME", "")]), None);
    let none = resolve_err(
        RawConfig::default(),
        None,
        &env_pairs(&[("HOME", "relative")]),
    );
    assert!(
        none.starts_with("no data dir: give --data-dir or NOSTRP2P_DATA_DIR"),
        "{none}"
    );

    // resolve uses it, and reads config.toml from it.
    let state = tempdir();
    write(&state, CONFIG_FILE_NAME, "debug = true\n");
    let env = env_pairs(&[
        ("HOME", "/nonexistent"),
        ("STATE_DIRECTORY", state.path().to_str().unwrap()),
    ]);
    let config = resolve(RawConfig::default(), None, &env, &pi4()).unwrap();
    assert_eq!(config.data_dir, state.path());
    assert!(config.debug);
}

#[test]
fn paths_must_be_non_empty_and_not_start_with_a_tilde() {
    let dir = tempdir();
    let env = env(&[("NOSTRP2P_TLS_CERT", "~/certs/fullchain.pem")]);
    let msg = resolve_err(flags_with_dir(&dir), None, &env);
    assert!(
        msg.starts_with("environment NOSTRP2P_TLS_CERT: expected a path without ~"),
        "{msg}"
    );
    let flags = RawConfig {
        data_dir: Some(PathBuf::new()),
        ..RawConfig::default()
    };
    let msg = resolve_err(flags, None, &[]);
    assert_eq!(msg, "flag --data-dir: expected a non-empty path, got \"\"");
}

#[test]
fn tls_files_are_set_only_with_ssl() {
    let dir = tempdir();
    let env = env(&[
        ("NOSTRP2P_TLS_CERT", "/etc/tls/cert.pem"),
        ("NOSTRP2P_TLS_KEY", "key.pem"),
    ]);
    let off = resolve(flags_with_dir(&dir), None, &env, &pi4()).unwrap();
    assert_eq!(off.tls, None);
    let flags = RawConfig {
        ssl: Some(true),
        ..flags_with_dir(&dir)
    };
    let on = resolve(flags, None, &env, &pi4()).unwrap();
    assert_eq!(
        on.tls,
        Some(TlsFiles {
            cert: "/etc/tls/cert.pem".into(),
            key: "key.pem".into()
        })
    );
}

#[test]
fn an_unknown_board_lists_the_known_names() {
    let dir = tempdir();
    let flags = RawConfig {
        board: Some("rpi-6".into()),
        ..flags_with_dir(&dir)
    };
    let msg = resolve_err(flags, None, &[]);
    assert!(
        msg.starts_with("flag --board: expected a board name: auto, armv7-router-256"),
        "{msg}"
    );
    for name in BoardProfile::names() {
        assert!(msg.contains(name), "{msg} lacks {name}");
    }
    assert!(msg.ends_with("got \"rpi-6\""), "{msg}");
}

#[test]
fn board_auto_detects_as_if_unset() {
    let dir = tempdir();
    write(&dir, CONFIG_FILE_NAME, "board = \"rpi-3\"\n");
    let flags = RawConfig {
        board: Some(BOARD_AUTO.into()),
        ..flags_with_dir(&dir)
    };
    let config = resolve(flags, None, &[], &pi4()).unwrap();
    assert_eq!(config.board.name, "rpi-4");
    let config = resolve(flags_with_dir(&dir), None, &[], &pi4()).unwrap();
    assert_eq!(config.board.name, "rpi-3");
    let by = format!(
        "{}: key \"board\"",
        dir.path().join(CONFIG_FILE_NAME).display()
    );
    assert_eq!(config.board_choice, BoardChoice::Named { by });
}

#[test]
fn every_board_is_valid() {
    for (name, text) in BOARDS {
        let profile = BoardProfile::parse(name, text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(profile.name, *name);
        assert!(
            profile.store_max_bytes.get() >= 2 * FJALL_JOURNAL_MIN,
            "{name}"
        );
        assert_eq!(BoardProfile::builtin(name), Some(profile));
    }
    // Every file of boards/ is embedded, and nothing else.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("boards");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = BoardProfile::names().map(|n| format!("{n}.toml")).collect();
    embedded.sort();
    assert_eq!(on_disk, embedded);
    assert_eq!(BoardProfile::builtin("rpi-6"), None);
}

#[test]
fn board_profiles_refuse_unknown_keys_and_bad_budgets() {
    let (_, text) = BOARDS[0];
    let typo = format!("{text}\nmax_sesions = 3\n");
    let msg = BoardProfile::parse(SMALLEST_BOARD, &typo)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("unknown field `max_sesions`"), "{msg}");

    let cases = [
        ("ring_tier = \"s\"", "ring_tier = \"xl\"", "unknown variant"),
        ("max_sessions = 24", "max_sessions = 0", "nonzero"),
        (
            "store_max_bytes = 268_435_456",
            "store_max_bytes = 67_108_864",
            "journal",
        ),
        (
            "fjall_cache_bytes = 4_194_304",
            "fjall_cache_bytes = 67_108_864",
            "half of memory_max",
        ),
        (
            "passive_view = 30",
            "passive_view = 4",
            "exceeds passive_view",
        ),
        (
            "ws_max_connections = 32",
            "ws_max_connections = 4096",
            "file descriptor",
        ),
        (
            "memory_max = 67_108_864",
            "memory_max = 16_777_216",
            "below",
        ),
        (
            "name = \"armv7-router-256\"",
            "name = \"router\"",
            "its name is",
        ),
    ];
    for (from, to, want) in cases {
        assert!(text.contains(from), "{from}");
        let changed = text.replace(from, to);
        let msg = BoardProfile::parse(SMALLEST_BOARD, &changed)
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("embedded board profile armv7-router-256: "),
            "{msg}"
        );
        assert!(msg.contains(want), "{to}: {msg}");
    }
}

#[test]
fn the_router_profile_matches_the_memory_budget() {
    let p = BoardProfile::builtin("armv7-router-256").unwrap();
    assert_eq!(p.memory_max.get(), 64 << 20);
    assert_eq!(p.ring_tier, RingTier::S);
    assert_eq!(p.fjall_cache_bytes.get(), 4 << 20);
    assert_eq!(p.fjall_memtable_events_bytes.get(), 2 << 20);
    assert_eq!(p.fjall_memtable_index_bytes.get(), 1 << 20);
    assert_eq!(p.fjall_memtable_state_bytes.get(), 256 << 10);
    assert_eq!(
        (
            p.max_sessions.get(),
            p.active_view.get(),
            p.passive_view.get()
        ),
        (24, 5, 30)
    );
    assert_eq!((p.ws_max_connections.get(), p.subs_max.get()), (32, 64));
    assert_eq!(p.store_max_age().as_secs(), 180 * 86_400);
}

#[test]
fn pi_models_are_detected_by_device_tree_model() {
    let cases = [
        ("Raspberry Pi Zero 2 W Rev 1.0", "rpi-zero-2w"),
        ("Raspberry Pi 3 Model B Rev 1.2", "rpi-3"),
        ("Raspberry Pi 3 Model B Plus Rev 1.3", "rpi-3"),
        ("Raspberry Pi Compute Module 3 Plus Rev 1.0", "rpi-3"),
        ("Raspberry Pi 4 Model B Rev 1.4", "rpi-4"),
        ("Raspberry Pi 400 Rev 1.0", "rpi-4"),
        ("Raspberry Pi Compute Module 4 Rev 1.0", "rpi-4"),
        ("Raspberry Pi 5 Model B Rev 1.0", "rpi-5"),
        ("Raspberry Pi Compute Module 5 Rev 1.0", "rpi-5"),
    ];
    for (model, want) in cases {
        for x86_64 in [false, true] {
            // The model decides even when memory would say otherwise.
            let probe = FakeProbe {
                model: Some(model),
                memory: Some(256 << 20),
            };
            let (name, choice) = detect_name(&probe, x86_64);
            assert_eq!(name, want, "{model}");
            let why = format!("device-tree model \"{model}\"");
            assert_eq!(choice, BoardChoice::Detected { why });
        }
    }
    let (profile, _) = detect(&pi4());
    assert_eq!(profile.name, "rpi-4");
}

#[test]
fn without_a_known_model_memory_decides() {
    let cases: [(Option<&str>, u64, bool, &str, &str); 7] = [
        (
            None,
            250 << 20,
            false,
            "armv7-router-256",
            "no device-tree model; 250 MiB RAM",
        ),
        (
            None,
            512 << 20,
            true,
            "armv7-router-256",
            "no device-tree model; 512 MiB RAM on x86_64",
        ),
        (
            None,
            8_160_000_000,
            true,
            "x86_64-generic",
            "no device-tree model; 7.6 GiB RAM on x86_64",
        ),
        (
            None,
            926 << 20,
            false,
            "rpi-3",
            "no device-tree model; 926 MiB RAM",
        ),
        (
            None,
            1900 << 20,
            false,
            "rpi-4",
            "no device-tree model; 1.9 GiB RAM",
        ),
        (
            None,
            16 << 30,
            false,
            "rpi-4",
            "no device-tree model; 16.0 GiB RAM",
        ),
        (
            Some("Xunlong Orange Pi Zero"),
            490 << 20,
            false,
            "armv7-router-256",
            "device-tree model \"Xunlong Orange Pi Zero\" (no profile of its own); 490 MiB RAM",
        ),
    ];
    for (model, memory, x86_64, want, why) in cases {
        let probe = FakeProbe {
            model,
            memory: Some(memory),
        };
        let (name, choice) = detect_name(&probe, x86_64);
        assert_eq!(name, want, "{why}");
        assert_eq!(choice, BoardChoice::Detected { why: why.into() });
    }
    let blind = FakeProbe {
        model: None,
        memory: None,
    };
    assert_eq!(
        detect_name(&blind, true),
        ("x86_64-generic", BoardChoice::Default)
    );
    assert_eq!(
        detect_name(&blind, false),
        (SMALLEST_BOARD, BoardChoice::Default)
    );
}

#[test]
fn the_proc_probe_reads_model_and_memtotal() {
    let root = tempdir();
    assert_eq!(model_below(root.path()), None);
    assert_eq!(memory_below(root.path()), None);
    std::fs::create_dir_all(root.path().join("proc/device-tree")).unwrap();
    std::fs::write(
        root.path().join("proc/device-tree/model"),
        b"Raspberry Pi 4 Model B Rev 1.4\0",
    )
    .unwrap();
    std::fs::write(
        root.path().join("proc/meminfo"),
        "MemTotal:        3884328 kB\nMemFree:          123456 kB\n",
    )
    .unwrap();
    let model = model_below(root.path());
    assert_eq!(model.as_deref(), Some("Raspberry Pi 4 Model B Rev 1.4"));
    assert_eq!(memory_below(root.path()), Some(3_884_328 * 1024));
    assert_eq!(parse_meminfo("MemFree: 1 kB\n"), None);
    assert_eq!(parse_meminfo("MemTotal: lots kB\n"), None);
    // The real system either has the files or not; reading them must not fail.
    let _ = ProcBoardProbe.total_memory_bytes();
}

#[test]
fn the_derived_deserializer_accepts_the_same_keys() {
    let text = "listen = \"0.0.0.0:1\"\nboot_peers = [\"a:1\"]\nowner = \"x\"\nwritable = true\n\
                debug = false\ndata_dir = \"/d\"\nboard = \"rpi-4\"\nssl = true\n\
                tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\nwriters = [\"w\"]\n\
                open_writes = true\nallow_cgnat = true\nnetwork_id = \"lab\"\n\
                store_sync = \"always\"\n";
    let derived: RawConfig = toml::from_str(text).unwrap();
    let by_hand = RawConfig::from_toml(Path::new("t.toml"), text).unwrap();
    assert_eq!(derived, by_hand);
    assert_eq!(
        Key::ALL.iter().filter(|k| k.in_file()).count(),
        text.lines().count()
    );
    let err = toml::from_str::<RawConfig>("lisen = \"x\"\n").unwrap_err();
    assert!(err.message().contains("unknown field `lisen`"), "{err}");
}

#[test]
fn the_key_table_is_consistent() {
    for key in Key::ALL {
        assert_eq!(key.env(), format!("NOSTRP2P_{}", key.name().to_uppercase()));
        assert!(key.flag().contains("--"), "{key:?}");
        assert!(
            !key.meaning().is_empty() && !key.default_text().is_empty(),
            "{key:?}"
        );
    }
    let table = markdown_table();
    assert_eq!(table.lines().count(), Key::ALL.len() + 2);
    assert!(
        table.contains(
            "| `listen` | `NOSTRP2P_LISTEN` | `-l/--listen-addr-port` | `0.0.0.0:20000` |"
        ),
        "{table}"
    );
}

#[test]
fn config_display_summarises_for_the_log() {
    let dir = tempdir();
    let config = resolve(flags_with_dir(&dir), None, &[], &pi4()).unwrap();
    let text = config.to_string();
    assert!(
        text.starts_with("mesh 0.0.0.0:20000, API 0.0.0.0:20001, websocket 0.0.0.0:20002\n"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "board rpi-4 (detected: device-tree model \"Raspberry Pi 4 Model B Rev 1.4\")"
        ),
        "{text}"
    );
}

// ---- helpers ----

struct FakeProbe {
    model: Option<&'static str>,
    memory: Option<u64>,
}

impl BoardProbe for FakeProbe {
    fn device_tree_model(&self) -> Option<String> {
        self.model.map(str::to_owned)
    }
    fn total_memory_bytes(&self) -> Option<u64> {
        self.memory
    }
}

fn pi4() -> FakeProbe {
    FakeProbe {
        model: Some("Raspberry Pi 4 Model B Rev 1.4"),
        memory: Some(3_884_328 * 1024),
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Flags that pin the data dir, so the test's own environment plays no part.
fn flags_with_dir(dir: &tempfile::TempDir) -> RawConfig {
    RawConfig {
        data_dir: Some(dir.path().to_owned()),
        ..RawConfig::default()
    }
}

fn env_pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// An environment with a HOME, so a default data dir exists.
fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = env_pairs(&[("HOME", "/nonexistent-home")]);
    env.extend(env_pairs(pairs));
    env
}

fn resolve_err(flags: RawConfig, file: Option<PathBuf>, env: &[(String, String)]) -> String {
    match resolve(flags, file, env, &pi4()) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(e) => e.to_string(),
    }
}

fn peers(config: &Config) -> Vec<String> {
    config.boot_peers.iter().map(ToString::to_string).collect()
}

#[test]
fn writers_open_writes_cgnat_and_network_id_resolve_and_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let owner = crate::nostr::Keys::from_secret_bytes([3; 32])
        .unwrap()
        .public();
    let npub = crate::nostr::nip19::encode_npub(&owner);
    let flags = RawConfig {
        data_dir: Some(data.clone()),
        board: Some("rpi-4".into()),
        writers: Some(vec![format!("{npub}, {}", owner.to_hex())]),
        ..RawConfig::default()
    };
    let env = vec![
        ("NOSTRP2P_OPEN_WRITES".to_owned(), "1".to_owned()),
        ("NOSTRP2P_NETWORK_ID".to_owned(), "lab/7".to_owned()),
    ];
    let c = resolve(flags.clone(), None, &env, &pi4()).unwrap();
    assert_eq!(c.writers, vec![owner], "duplicates merged");
    assert!(c.open_writes);
    assert!(!c.allow_cgnat);
    assert_eq!(c.network_id, "lab/7");
    let defaults = resolve(
        RawConfig {
            data_dir: Some(data.clone()),
            board: Some("rpi-4".into()),
            ..RawConfig::default()
        },
        None,
        &[],
        &pi4(),
    )
    .unwrap();
    assert!(defaults.writers.is_empty() && !defaults.open_writes);
    assert_eq!(defaults.network_id, DEFAULT_NETWORK_ID);

    let nsec = crate::nostr::nip19::encode_nsec(&[3; 32]);
    let bad_writer = RawConfig {
        writers: Some(vec![nsec.clone()]),
        ..flags.clone()
    };
    let err = resolve(bad_writer, None, &[], &pi4())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--writer") && err.contains("secret key"),
        "{err}"
    );
    assert!(!err.contains(&nsec), "a secret is never echoed: {err}");
    let bad_net = vec![("NOSTRP2P_NETWORK_ID".to_owned(), "my lab".to_owned())];
    let err = resolve(flags, None, &bad_net, &pi4())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("NOSTRP2P_NETWORK_ID") && err.contains("printable"),
        "{err}"
    );
}

#[test]
fn store_sync_is_always_by_default_and_interval_is_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let flags = |sync: Option<&str>| RawConfig {
        data_dir: Some(tmp.path().join("d")),
        board: Some("rpi-4".into()),
        store_sync: sync.map(str::to_owned),
        ..RawConfig::default()
    };
    let sync = |s: Option<&str>| resolve(flags(s), None, &[], &pi4()).map(|c| c.store_sync);
    assert_eq!(sync(None).unwrap(), StoreSync::Always);
    assert_eq!(sync(Some("always")).unwrap(), StoreSync::Always);
    assert_eq!(
        sync(Some("interval:250")).unwrap(),
        StoreSync::Interval(std::time::Duration::from_millis(250))
    );
    for bad in [
        "interval:0",
        "interval:60001",
        "interval:",
        "sometimes",
        "interval:1s",
    ] {
        let err = sync(Some(bad)).unwrap_err().to_string();
        assert!(
            err.contains("--store-sync") && err.contains("interval:<ms>"),
            "{bad}: {err}"
        );
    }
}
