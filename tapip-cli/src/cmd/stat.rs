//! `stat`: buffers and sockets in use, per-protocol counters, every drop by its cause.

use super::Ctx;

/// Print `name: value` pairs, skipping zero drop counters to keep the output readable.
fn line(section: &str, pairs: &[(&str, u64)]) {
    let shown: Vec<String> = pairs
        .iter()
        .filter(|(k, v)| *v != 0 || !k.starts_with("drop"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!("{section:<10}{}", shown.join(" "));
}

pub fn run(ctx: &Ctx) {
    let dev = ctx.stack.device_stats();
    let input_queue = ctx.stack.input_queue_len();
    let (
        ip,
        icmp,
        reasm,
        (pending, buffered),
        arps,
        tr,
        udp,
        sockets,
        socket_bytes,
        arp_pending,
        ifaces,
    ) = ctx.stack.with_core(|c, _| {
        let socks = c.transport.sockets();
        let bytes: usize = socks.iter().map(|s| s.rx_bytes).sum();
        (
            c.ip.stats(),
            c.ip.icmp_stats(),
            c.ip.reassembly_stats(),
            c.ip.reassembly_usage(),
            c.ip.arp_stats(),
            c.transport.stats(),
            c.transport.udp_stats(),
            socks.len(),
            bytes,
            c.ip.arp_pending(),
            c.ip.interfaces(),
        )
    });
    println!(
        "In use: sockets={sockets} socket-queue-bytes={socket_bytes} stack-input-queue={input_queue} \
         arp-pending-frames={arp_pending} reassembly-datagrams={pending} reassembly-bytes={buffered}"
    );
    for i in ifaces {
        line(
            &format!("if {}", i.name),
            &[
                ("rx_frames", i.stats.rx_frames),
                ("tx_frames", i.stats.tx_frames),
                ("drop_not_our_mac", i.stats.rx_not_our_mac),
                ("drop_iface_down", i.stats.rx_down),
            ],
        );
    }
    for (name, s) in dev {
        line(
            &format!("dev {name}"),
            &[
                ("rx_packets", s.rx_packets),
                ("rx_bytes", s.rx_bytes),
                ("tx_packets", s.tx_packets),
                ("tx_bytes", s.tx_bytes),
                ("rx_errors", s.rx_errors),
                ("tx_errors", s.tx_errors),
                ("drop_not_ip_or_arp", s.rx_dropped_ethertype),
                ("drop_runt", s.rx_dropped_runt),
                ("drop_too_big", s.rx_dropped_too_big),
                ("drop_stack_queue_full", s.rx_dropped_queue_full),
                ("drop_tx_queue_full", s.tx_dropped_queue_full),
                ("drop_tx_too_big", s.tx_dropped_too_big),
            ],
        );
    }
    for (name, a) in arps {
        line(
            &format!("arp {name}"),
            &[
                ("requests_in", a.requests_received),
                ("replies_in", a.replies_received),
                ("requests_out", a.requests_sent),
                ("replies_out", a.replies_sent),
                ("learned", a.learned),
                ("updated", a.updated),
                ("failures", a.failures),
                ("unknown_op", a.unknown_received),
                (
                    "drop_pending_entry_full",
                    a.pending_dropped.entry_queue_full,
                ),
                (
                    "drop_pending_total_full",
                    a.pending_dropped.total_queue_full,
                ),
                ("drop_pending_table_full", a.pending_dropped.table_full),
                (
                    "drop_pending_bad_address",
                    a.pending_dropped.invalid_address,
                ),
                ("drop_pending_evicted", a.pending_dropped.evicted),
                ("drop_pending_removed", a.pending_dropped.removed),
                ("drop_learn_table_full", a.learn_table_full),
                ("drop_static_mismatch", a.static_mismatches),
                ("drop_rate_limited", a.rate_limited),
                ("drop_conflicts", a.conflicts),
                ("drop_own_mac", a.ignored.own_sender_mac),
                ("drop_bad_sender_mac", a.ignored.invalid_sender_mac),
                ("drop_bad_sender_ip", a.ignored.invalid_sender_ip),
                ("drop_evictions", a.evictions),
            ],
        );
    }
    line(
        "ip",
        &[
            ("rx", ip.rx_packets),
            ("delivered", ip.rx_delivered),
            ("forwarded", ip.rx_forwarded),
            ("tx", ip.tx_packets),
            ("frags_out", ip.tx_fragments),
            ("frags_in", ip.rx_fragments),
            ("reassembled", ip.reassembled),
            ("drop_truncated", ip.drop_truncated),
            ("drop_bad_version", ip.drop_bad_version),
            ("drop_bad_header_len", ip.drop_bad_header_len),
            ("drop_bad_total_len", ip.drop_bad_total_len),
            ("drop_bad_checksum", ip.drop_bad_checksum),
            ("drop_bad_source", ip.drop_bad_source),
            ("drop_bad_destination", ip.drop_bad_destination),
            ("drop_not_for_us", ip.drop_not_for_us),
            ("drop_ttl_expired", ip.drop_ttl_expired),
            ("drop_no_route", ip.drop_no_route),
            ("drop_frag_needed", ip.drop_frag_needed),
            ("drop_arp_failed", ip.drop_arp_failed),
            ("drop_arp_queue_full", ip.drop_arp_queue_full),
            ("drop_tx_queue_full", ip.drop_tx_queue_full),
            ("drop_unknown_protocol", ip.drop_unknown_protocol),
            ("drop_reassembly", ip.drop_reassembly),
            ("drop_bad_arp", ip.drop_bad_arp),
            ("drop_arp_no_address", ip.drop_arp_no_address),
            ("arp_off_link_not_learned", ip.arp_off_link),
        ],
    );
    line(
        "reasm",
        &[
            ("completed", reasm.completed),
            ("drop_timeouts", reasm.timeouts),
            ("drop_duplicates", reasm.duplicates),
            ("drop_overlaps", reasm.overlap),
            ("drop_too_big", reasm.too_big),
            ("drop_bad_length", reasm.bad_length),
            ("drop_inconsistent_end", reasm.inconsistent_end),
            ("drop_memory_limit", reasm.memory_limit),
            ("drop_too_many_datagrams", reasm.too_many_datagrams),
            ("drop_bad_header", reasm.bad_header),
        ],
    );
    line(
        "icmp",
        &[
            ("rx", icmp.rx_messages),
            ("rx_echo_requests", icmp.rx_echo_requests),
            ("rx_echo_replies", icmp.rx_echo_replies),
            ("rx_errors", icmp.rx_errors),
            ("tx", icmp.tx_messages),
            ("tx_echo_replies", icmp.tx_echo_replies),
            ("tx_unreachable", icmp.tx_dest_unreachable),
            ("tx_time_exceeded", icmp.tx_time_exceeded),
            ("tx_redirects", icmp.tx_redirects),
            ("drop_bad_checksum", icmp.drop_bad_checksum),
            ("drop_truncated", icmp.drop_truncated),
            ("drop_broadcast_echo", icmp.drop_broadcast_echo),
            ("drop_errors_suppressed", icmp.errors_suppressed),
            ("drop_errors_rate_limited", icmp.errors_rate_limited),
        ],
    );
    line(
        "udp",
        &[
            ("rx", udp.rx_datagrams),
            ("delivered", udp.rx_delivered),
            ("tx", udp.tx_datagrams),
            ("icmp_errors_reported", udp.icmp_errors_reported),
            ("drop_truncated", udp.drop_truncated),
            ("drop_bad_length", udp.drop_bad_length),
            ("drop_bad_checksum", udp.drop_bad_checksum),
            ("drop_no_port", udp.drop_no_port),
            ("drop_queue_full", udp.drop_queue_full),
        ],
    );
    if let Some(f) = &ctx.fault {
        let f = f.stats();
        line(
            "fault",
            &[
                ("received", f.received),
                ("passed", f.passed),
                ("drop_injected_loss", f.lost),
                ("drop_other", f.dropped - f.lost - f.overflow),
                ("drop_hold_overflow", f.overflow),
                ("duplicated", f.duplicated),
                ("reordered", f.reordered),
                ("delayed", f.delayed),
                ("corrupted", f.corrupted),
                ("tx_passed", f.tx_passed),
                ("drop_tx_injected_loss", f.tx_dropped),
            ],
        );
    }
    line(
        "trace",
        &[
            ("drop_lines", ctx.trace.dropped_lines()),
            ("pcap_packets", ctx.pcap.packets()),
            ("drop_pcap_write_errors", ctx.pcap.write_errors()),
        ],
    );
    line(
        "raw",
        &[
            ("delivered", tr.raw_delivered),
            ("sent", tr.raw_sent),
            ("drop_queue_full", tr.raw_dropped_queue_full),
            ("drop_no_protocol", tr.no_protocol),
        ],
    );
}
