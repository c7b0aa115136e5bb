//! State machine versions on whole in-process nodes: the cluster proposes
//! at the least version its members advertise, and a command newer than
//! that is refused before it is proposed (an older member would answer it
//! as unknown), until every member runs a version that knows it.

mod fixtures;

use fixtures::{Cluster, wait_for, words};
use raft_kv::{Op, Reply};
use raft_kv_state::entry::{Call, MemberAdvert, STATE_MACHINE_VERSION};
use std::time::Duration;

fn call(ws: &[&str]) -> Op {
    Op::Call(Call {
        argv: words(ws),
        seed: 0,
    })
}

fn advertise(c: &Cluster<fixtures::Mem>, id: u64, version: u32) {
    let h = c.handle(c.leader());
    let client_addr = h
        .status()
        .clients
        .get(&id)
        .cloned()
        .unwrap_or_else(|| format!("127.0.0.1:{}", 6000 + id));
    let advert = Op::Member(MemberAdvert {
        id,
        client_addr,
        state_machine_version: Some(version),
    });
    assert_eq!(h.write(advert).wait(), Ok(Reply::ok()));
    let every = c.running();
    let learned = wait_for(Duration::from_secs(10), || {
        every
            .iter()
            .all(|n| c.handle(*n).state_machine_version() == version.min(STATE_MACHINE_VERSION))
            .then_some(())
    });
    assert!(learned.is_some(), "every node learns version {version}");
}

#[test]
fn a_command_newer_than_the_clusters_version_is_refused_until_every_member_knows_it() {
    let c = Cluster::mem(3);
    let h = c.handle(c.leader());
    assert_eq!(
        h.write(call(&["PUBLISH", "news", "now"])).wait(),
        Ok(Reply::Int(0))
    );

    advertise(&c, 2, STATE_MACHINE_VERSION - 1);
    let refused = h.write(call(&["PUBLISH", "news", "too early"])).wait();
    assert!(
        matches!(&refused, Ok(Reply::Error(e)) if e.line().contains("needs every member at state machine version 3")),
        "{refused:?}"
    );
    assert_eq!(
        h.write(call(&["SET", "k", "v"])).wait(),
        Ok(Reply::ok()),
        "older commands go on"
    );

    advertise(&c, 2, STATE_MACHINE_VERSION);
    assert_eq!(
        h.write(call(&["PUBLISH", "news", "upgraded"])).wait(),
        Ok(Reply::Int(0))
    );
}
