//! `stat`: buffers and sockets in use, per-protocol counters, every drop by its cause.

use super::Ctx;

/// Print `name: value` pairs, skipping zero drop counters to keep the output readable.
fn line(section: &str, pairs: &[(&str, u64)]) {
    outln!("{}", format_line(section, pairs));
}

/// A section's name padded to 10 columns (and a space after a longer one, such as
/// `dev tap0 io=uring-tx`), then its counters, the drop counters only when not zero.
fn format_line(section: &str, pairs: &[(&str, u64)]) -> String {
    let shown: Vec<String> = pairs
        .iter()
        .filter(|(k, v)| *v != 0 || !k.starts_with("drop"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let gap = if section.chars().count() < 10 {
        ""
    } else {
        " "
    };
    format!("{section:<10}{gap}{}", shown.join(" "))
}

pub fn run(ctx: &Ctx) {
    let dev = ctx.stack.device_stats();
    let io = ctx.stack.device_io_paths();
    let input_queue = ctx.stack.input_queue_len();
    let (
        ip,
        icmp,
        igmp,
        reasm,
        (pending, buffered),
        arps,
        tr,
        udp,
        tcp,
        sockets,
        socket_bytes,
        (tcp_mem, tcp_mem_max),
        arp_pending,
        ifaces,
    ) = ctx.stack.with_core(|c, _| {
        let socks = c.transport.sockets();
        let bytes: usize = socks.iter().map(|s| s.rx_bytes).sum();
        (
            c.ip.stats(),
            c.ip.icmp_stats(),
            c.ip.igmp_stats(),
            c.ip.reassembly_stats(),
            c.ip.reassembly_usage(),
            c.ip.arp_stats(),
            c.transport.stats(),
            c.transport.udp_stats(),
            c.transport.tcp_stats(),
            socks.len(),
            bytes,
            c.transport.tcp_mem(),
            c.ip.arp_pending(),
            c.ip.interfaces(),
        )
    });
    outln!(
        "In use: sockets={sockets} socket-queue-bytes={socket_bytes} \
         tcp-buffer-bytes={tcp_mem}/{tcp_mem_max} stack-input-queue={input_queue} \
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
                ("drop_runt", i.stats.rx_runt),
                ("drop_not_ip_or_arp", i.stats.rx_unknown_type),
            ],
        );
    }
    for (name, s) in dev {
        line(
            &format!(
                "dev {name} io={}",
                io.iter().find(|(n, _)| *n == name).map_or("?", |(_, p)| p)
            ),
            &[
                ("rx_packets", s.rx_packets),
                ("rx_bytes", s.rx_bytes),
                ("tx_packets", s.tx_packets),
                ("tx_bytes", s.tx_bytes),
                ("rx_errors", s.rx_errors),
                ("tx_errors", s.tx_errors),
                ("rx_coalesced", s.rx_gso_frames),
                ("tx_tso", s.tx_gso_frames),
                ("rx_csum_partial", s.rx_csum_partial),
                ("tx_csum_partial", s.tx_csum_partial),
                ("rx_batches", s.rx_batches),
                ("drop_not_ip_or_arp", s.rx_dropped_ethertype),
                ("drop_runt", s.rx_dropped_runt),
                ("drop_too_big", s.rx_dropped_too_big),
                ("drop_bad_vnet_hdr", s.rx_dropped_bad_meta),
                ("drop_stack_queue_full", s.rx_dropped_queue_full),
                ("drop_tx_queue_full", s.tx_dropped_queue_full),
                ("drop_tx_too_big", s.tx_dropped_too_big),
                ("drop_tx_link_down", s.tx_dropped_link_down),
                // Left in the driver as it stopped (or handed to it after).
                ("drop_shutdown", s.rx_dropped_shutdown),
                ("drop_tx_shutdown", s.tx_dropped_shutdown),
            ],
        );
    }
    for (name, a) in arps {
        line(&format!("arp {name}"), &arp_pairs(&a));
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
            ("drop_not_member", ip.drop_not_member),
            ("multicast_looped", ip.multicast_looped),
            ("drop_multicast_loop_full", ip.drop_multicast_loop_full),
            ("broadcast_looped", ip.broadcast_looped),
            ("drop_broadcast_loop_full", ip.drop_broadcast_loop_full),
            ("drop_link_broadcast", ip.drop_link_broadcast),
            ("drop_bad_options", ip.drop_bad_options),
            ("drop_source_route", ip.drop_source_route),
            ("drop_ttl_expired", ip.drop_ttl_expired),
            ("drop_no_route", ip.drop_no_route),
            ("drop_frag_needed", ip.drop_frag_needed),
            ("drop_bad_fragment", ip.drop_bad_fragment),
            ("drop_arp_failed", ip.drop_arp_failed),
            ("drop_arp_queue_full", ip.drop_arp_queue_full),
            ("drop_tx_queue_full", ip.drop_tx_queue_full),
            ("drop_unknown_protocol", ip.drop_unknown_protocol),
            ("drop_reassembly", ip.drop_reassembly),
            ("drop_bad_offload", ip.drop_bad_offload),
            ("drop_bad_arp", ip.drop_bad_arp),
            ("drop_arp_bad_sender", ip.drop_arp_bad_sender),
            ("arp_conflicts_defended", ip.arp_conflicts_defended),
            ("arp_probe_conflicts", ip.arp_probe_conflicts),
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
            ("drop_ecn_mismatch", reasm.ecn_mismatch),
            ("drop_too_far", reasm.too_far),
        ],
    );
    line("icmp", &icmp_pairs(&icmp, tr.icmp_errors_received));
    line(
        "igmp",
        &[
            ("rx", igmp.rx_messages),
            ("rx_queries", igmp.rx_queries),
            ("rx_reports", igmp.rx_reports),
            ("tx_reports", igmp.tx_reports),
            ("tx_leaves", igmp.tx_leaves),
            ("reports_suppressed", igmp.reports_suppressed),
            ("drop_truncated", igmp.drop_truncated),
            ("drop_bad_checksum", igmp.drop_bad_checksum),
            ("drop_bad_query", igmp.drop_bad_query),
        ],
    );
    line(
        "udp",
        &[
            ("rx", udp.rx_datagrams),
            ("delivered", udp.rx_delivered),
            ("tx", udp.tx_datagrams),
            ("icmp_errors_reported", udp.icmp_errors_reported),
            ("icmp_errors_ignored", udp.icmp_errors_ignored),
            ("pmtu_updates", udp.pmtu_updates),
            ("drop_truncated", udp.drop_truncated),
            ("drop_bad_length", udp.drop_bad_length),
            ("drop_bad_checksum", udp.drop_bad_checksum),
            ("ignored_multi", udp.ignored_multi),
            ("drop_no_port", udp.drop_no_port),
            ("drop_queue_full", udp.drop_queue_full),
            ("drop_errors_full", udp.drop_errors_full),
        ],
    );
    line("tcp", &tcp_pairs(&tcp));
    for d in ctx.stack.dhcp_status() {
        let s = d.stats;
        line(
            &format!("dhcp {}", d.interface),
            &[
                ("tx_discovers", s.discovers),
                ("tx_requests", s.requests),
                ("tx_releases", s.releases),
                ("tx_declines", s.declines),
                ("rx_offers", s.offers),
                ("rx_acks", s.acks),
                ("rx_naks", s.naks),
                ("leases_lost", s.leases_lost),
                ("drop_malformed", s.drop_malformed),
                ("drop_not_ours", s.drop_not_ours),
                ("drop_unexpected", s.drop_unexpected),
                ("drop_wrong_port", s.drop_wrong_port),
                ("drop_send_failed", s.send_failures),
                ("drop_config_refused", s.config_failures),
            ],
        );
    }
    if let Some(f) = &ctx.fault {
        let f = f.stats();
        line(
            "fault",
            &[
                ("received", f.received),
                ("passed", f.passed),
                ("drop_injected_loss", f.lost),
                ("drop_hold_overflow", f.overflow),
                ("drop_held_discarded", f.discarded),
                ("drop_too_long", f.too_long),
                ("drop_bad_offload", f.bad_offload),
                ("duplicated", f.duplicated),
                ("reordered", f.reordered),
                ("delayed", f.delayed),
                ("corrupted", f.corrupted),
                ("tx_passed", f.tx_passed),
                ("drop_tx_injected_loss", f.tx_lost),
                ("drop_tx_hold_overflow", f.tx_overflow),
                ("drop_tx_held_discarded", f.tx_discarded),
                ("drop_tx_failed", f.tx_failed),
                ("tx_duplicated", f.tx_duplicated),
                ("tx_reordered", f.tx_reordered),
                ("tx_delayed", f.tx_delayed),
                ("tx_corrupted", f.tx_corrupted),
            ],
        );
    }
    line(
        "trace",
        &[
            ("drop_lines", ctx.trace.dropped_lines()),
            ("pcap_packets", ctx.pcap.packets()),
            ("drop_pcap_write_errors", ctx.pcap.write_errors()),
            ("drop_pcap_reader_full", ctx.pcap.dropped()),
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

/// Every counter of an ARP cache, named for `stat`. The patterns name every field, so a
/// counter added to `CacheStats` (or to its drop and ignore counts) does not build until it
/// is shown here (`resolved`, `expired` and `probes_received` were left out).
fn arp_pairs(a: &arp::CacheStats) -> Vec<(&'static str, u64)> {
    let arp::CacheStats {
        requests_sent,
        replies_sent,
        requests_received,
        replies_received,
        unknown_received,
        probes_received,
        learned,
        updated,
        resolved,
        failures,
        expired,
        probes_sent,
        probe_failures,
        suspected,
        evictions,
        rate_limited,
        conflicts,
        static_mismatches,
        learn_table_full,
        ignored:
            arp::IgnoredCounts {
                own_sender_mac,
                invalid_sender_mac,
                invalid_sender_ip,
            },
        pending_dropped:
            arp::PendingDrops {
                entry_queue_full,
                total_queue_full,
                entry_bytes_full,
                total_bytes_full,
                table_full,
                invalid_address,
                evicted,
                removed,
            },
    } = *a;
    vec![
        ("requests_in", requests_received),
        ("replies_in", replies_received),
        ("probes_in", probes_received),
        ("requests_out", requests_sent),
        // Not a drop: a request the rate limit held back goes out later.
        ("requests_held", rate_limited),
        ("replies_out", replies_sent),
        ("learned", learned),
        ("updated", updated),
        ("resolved", resolved),
        ("expired", expired),
        ("failures", failures),
        ("probes_out", probes_sent),
        ("probe_failures", probe_failures),
        ("suspected", suspected),
        ("unknown_op", unknown_received),
        ("drop_pending_entry_full", entry_queue_full),
        ("drop_pending_total_full", total_queue_full),
        ("drop_pending_entry_bytes", entry_bytes_full),
        ("drop_pending_total_bytes", total_bytes_full),
        ("drop_pending_table_full", table_full),
        ("drop_pending_bad_address", invalid_address),
        ("drop_pending_evicted", evicted),
        ("drop_pending_removed", removed),
        ("drop_learn_table_full", learn_table_full),
        ("drop_static_mismatch", static_mismatches),
        ("drop_conflicts", conflicts),
        ("drop_own_mac", own_sender_mac),
        ("drop_bad_sender_mac", invalid_sender_mac),
        ("drop_bad_sender_ip", invalid_sender_ip),
        ("drop_evictions", evictions),
    ]
}

/// Every TCP counter, named for `stat`: segments, connections, loss recovery, then the
/// drops by cause (shown only when not zero). The pattern names every field, so a counter
/// added to `TcpStats` does not build until it is shown here.
fn tcp_pairs(t: &transport::TcpStats) -> Vec<(&'static str, u64)> {
    let transport::TcpStats {
        segs_in,
        segs_out,
        active_opens,
        passive_opens,
        established,
        retransmits,
        fast_retransmits,
        timeouts,
        dup_acks,
        dup_segments,
        ooo_queued,
        resets_in,
        resets_out,
        resets_established,
        aborts_on_close,
        challenge_acks,
        window_probes,
        window_probes_taken,
        keepalive_probes,
        keepalive_timeouts,
        user_timeouts,
        handshake_timeouts,
        handshake_restarts,
        time_wait_evicted,
        icmp_ignored,
        sack_reneging,
        loss_probes,
        lost_retransmits,
        rack_lost,
        rack_reo_timeouts,
        dupthresh_lost,
        tlp_recoveries,
        hystart_css,
        hystart_resumed,
        hystart_exits,
        dsacks_in,
        spurious_undos,
        ecn_conns,
        ecn_ce_in,
        ecn_reductions,
        seg_table_merges,
        orphans_dropped,
        orphans_reclaimed,
        syncookies_sent,
        syncookies_recv,
        syncookies_failed,
        fastopen_passive,
        fastopen_cookies_sent,
        fastopen_bad_cookies,
        fastopen_overflows,
        fastopen_active,
        fastopen_active_fail,
        fastopen_syn_lost,
        fastopen_active_off,
        oow_acks_limited,
        send_failures,
        drop_bad_checksum,
        drop_bad_header,
        drop_broadcast,
        drop_no_socket,
        drop_syn_queue_full,
        drop_accept_queue_full,
        drop_listen_bad,
        drop_rst_ignored,
        drop_no_ack,
        drop_socket_table_full,
        bad_acks,
        window_drops,
        drop_after_fin,
        drop_syn_data,
        ooo_dropped,
        mem_pressure_drops,
        idle_restarts,
        pmtu_updates,
        pmtu_forged,
        pmtu_black_holes,
        drop_paws,
        ts_missing,
        wscale_clamped,
    } = *t;
    vec![
        ("rx", segs_in),
        ("tx", segs_out),
        ("active_opens", active_opens),
        ("passive_opens", passive_opens),
        ("established", established),
        ("retransmits", retransmits),
        ("fast_retransmits", fast_retransmits),
        ("rto_timeouts", timeouts),
        ("dup_acks", dup_acks),
        ("dup_segments", dup_segments),
        ("ooo_queued", ooo_queued),
        ("resets_in", resets_in),
        ("resets_out", resets_out),
        ("resets_established", resets_established),
        ("aborts_on_close", aborts_on_close),
        ("challenge_acks", challenge_acks),
        ("window_probes", window_probes),
        ("window_probes_taken", window_probes_taken),
        ("keepalive_probes", keepalive_probes),
        ("keepalive_timeouts", keepalive_timeouts),
        ("user_timeouts", user_timeouts),
        ("handshake_timeouts", handshake_timeouts),
        ("handshake_restarts", handshake_restarts),
        ("time_wait_evicted", time_wait_evicted),
        ("icmp_ignored", icmp_ignored),
        ("sack_reneging", sack_reneging),
        ("loss_probes", loss_probes),
        ("lost_retransmits", lost_retransmits),
        ("rack_lost", rack_lost),
        ("rack_reo_timeouts", rack_reo_timeouts),
        ("dupthresh_lost", dupthresh_lost),
        ("tlp_recoveries", tlp_recoveries),
        ("hystart_css", hystart_css),
        ("hystart_resumed", hystart_resumed),
        ("hystart_exits", hystart_exits),
        ("dsacks_in", dsacks_in),
        ("spurious_undos", spurious_undos),
        ("ecn_conns", ecn_conns),
        ("ecn_ce_in", ecn_ce_in),
        ("ecn_reductions", ecn_reductions),
        ("seg_table_merges", seg_table_merges),
        ("orphans_dropped", orphans_dropped),
        ("orphans_reclaimed", orphans_reclaimed),
        ("syncookies_sent", syncookies_sent),
        ("syncookies_recv", syncookies_recv),
        ("syncookies_failed", syncookies_failed),
        ("fastopen_passive", fastopen_passive),
        ("fastopen_cookies_sent", fastopen_cookies_sent),
        ("fastopen_bad_cookies", fastopen_bad_cookies),
        ("fastopen_overflows", fastopen_overflows),
        ("fastopen_active", fastopen_active),
        ("fastopen_active_fail", fastopen_active_fail),
        ("fastopen_syn_lost", fastopen_syn_lost),
        ("fastopen_active_off", fastopen_active_off),
        ("oow_acks_limited", oow_acks_limited),
        ("send_failures", send_failures),
        ("drop_bad_checksum", drop_bad_checksum),
        ("drop_bad_header", drop_bad_header),
        ("drop_broadcast", drop_broadcast),
        ("drop_no_socket", drop_no_socket),
        ("drop_syn_queue_full", drop_syn_queue_full),
        ("drop_accept_queue_full", drop_accept_queue_full),
        ("drop_listen_bad", drop_listen_bad),
        ("drop_rst_ignored", drop_rst_ignored),
        ("drop_no_ack", drop_no_ack),
        ("drop_socket_table_full", drop_socket_table_full),
        ("drop_bad_ack", bad_acks),
        ("drop_beyond_window", window_drops),
        ("drop_after_fin", drop_after_fin),
        ("drop_syn_data", drop_syn_data),
        ("drop_ooo_full", ooo_dropped),
        ("drop_memory_pressure", mem_pressure_drops),
        ("idle_restarts", idle_restarts),
        ("pmtu_updates", pmtu_updates),
        ("pmtu_forged", pmtu_forged),
        ("pmtu_black_holes", pmtu_black_holes),
        ("drop_paws", drop_paws),
        ("ts_missing", ts_missing),
        ("wscale_clamped", wscale_clamped),
    ]
}

/// The `icmp` line's counters, `to_transport` among them (the errors the transport took).
/// Every field is named, so a counter added to `IcmpStats` cannot be left out of `stat`.
fn icmp_pairs(icmp: &ip::IcmpStats, to_transport: u64) -> Vec<(&'static str, u64)> {
    let ip::IcmpStats {
        rx_messages,
        rx_echo_requests,
        rx_echo_replies,
        rx_errors,
        tx_messages,
        tx_echo_replies,
        tx_dest_unreachable,
        tx_time_exceeded,
        tx_redirects,
        tx_parameter_problems,
        drop_bad_checksum,
        drop_truncated,
        drop_broadcast_echo,
        drop_broadcast_other,
        drop_bad_quote,
        drop_ignored_type,
        errors_suppressed,
        errors_rate_limited,
        errors_no_route,
        errors_arp_queue_full,
        errors_tx_queue_full,
        errors_unsent_other,
        replies_no_route,
        replies_arp_queue_full,
        replies_tx_queue_full,
        replies_unsent_other,
        rx_redirects_applied,
        redirects_ignored,
    } = *icmp;
    vec![
        ("rx", rx_messages),
        ("rx_echo_requests", rx_echo_requests),
        ("rx_echo_replies", rx_echo_replies),
        ("rx_errors", rx_errors),
        ("tx", tx_messages),
        ("tx_echo_replies", tx_echo_replies),
        ("tx_unreachable", tx_dest_unreachable),
        ("tx_time_exceeded", tx_time_exceeded),
        ("tx_redirects", tx_redirects),
        ("tx_parameter_problems", tx_parameter_problems),
        ("rx_errors_to_transport", to_transport),
        ("rx_redirects_applied", rx_redirects_applied),
        ("redirects_ignored", redirects_ignored),
        ("drop_bad_checksum", drop_bad_checksum),
        ("drop_truncated", drop_truncated),
        ("drop_broadcast_echo", drop_broadcast_echo),
        ("drop_broadcast_other", drop_broadcast_other),
        ("drop_bad_quote", drop_bad_quote),
        ("drop_ignored_type", drop_ignored_type),
        ("drop_errors_suppressed", errors_suppressed),
        ("drop_errors_rate_limited", errors_rate_limited),
        ("drop_errors_no_route", errors_no_route),
        ("drop_errors_arp_queue_full", errors_arp_queue_full),
        ("drop_errors_tx_queue_full", errors_tx_queue_full),
        ("drop_errors_unsent_other", errors_unsent_other),
        ("drop_replies_no_route", replies_no_route),
        ("drop_replies_arp_queue_full", replies_arp_queue_full),
        ("drop_replies_tx_queue_full", replies_tx_queue_full),
        ("drop_replies_unsent_other", replies_unsent_other),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tcp_counter_is_shown() {
        // Give every counter a different value: each must appear, once, under its name.
        let mut t = transport::TcpStats::default();
        let fields: [&mut u64; 79] = [
            &mut t.segs_in,
            &mut t.segs_out,
            &mut t.retransmits,
            &mut t.fast_retransmits,
            &mut t.timeouts,
            &mut t.active_opens,
            &mut t.passive_opens,
            &mut t.established,
            &mut t.resets_in,
            &mut t.resets_out,
            &mut t.resets_established,
            &mut t.aborts_on_close,
            &mut t.dup_acks,
            &mut t.dup_segments,
            &mut t.ooo_queued,
            &mut t.challenge_acks,
            &mut t.window_probes,
            &mut t.window_probes_taken,
            &mut t.keepalive_probes,
            &mut t.keepalive_timeouts,
            &mut t.user_timeouts,
            &mut t.handshake_timeouts,
            &mut t.handshake_restarts,
            &mut t.send_failures,
            &mut t.time_wait_evicted,
            &mut t.drop_bad_checksum,
            &mut t.drop_bad_header,
            &mut t.drop_broadcast,
            &mut t.drop_no_socket,
            &mut t.drop_syn_queue_full,
            &mut t.drop_accept_queue_full,
            &mut t.bad_acks,
            &mut t.window_drops,
            &mut t.drop_after_fin,
            &mut t.drop_syn_data,
            &mut t.ooo_dropped,
            &mut t.mem_pressure_drops,
            &mut t.drop_listen_bad,
            &mut t.drop_rst_ignored,
            &mut t.drop_no_ack,
            &mut t.drop_socket_table_full,
            &mut t.icmp_ignored,
            &mut t.sack_reneging,
            &mut t.loss_probes,
            &mut t.lost_retransmits,
            &mut t.rack_lost,
            &mut t.rack_reo_timeouts,
            &mut t.dupthresh_lost,
            &mut t.tlp_recoveries,
            &mut t.hystart_css,
            &mut t.hystart_resumed,
            &mut t.hystart_exits,
            &mut t.dsacks_in,
            &mut t.spurious_undos,
            &mut t.ecn_conns,
            &mut t.ecn_ce_in,
            &mut t.ecn_reductions,
            &mut t.seg_table_merges,
            &mut t.orphans_dropped,
            &mut t.orphans_reclaimed,
            &mut t.syncookies_sent,
            &mut t.syncookies_recv,
            &mut t.syncookies_failed,
            &mut t.fastopen_passive,
            &mut t.fastopen_cookies_sent,
            &mut t.fastopen_bad_cookies,
            &mut t.fastopen_overflows,
            &mut t.fastopen_active,
            &mut t.fastopen_active_fail,
            &mut t.fastopen_syn_lost,
            &mut t.fastopen_active_off,
            &mut t.oow_acks_limited,
            &mut t.idle_restarts,
            &mut t.pmtu_updates,
            &mut t.pmtu_forged,
            &mut t.pmtu_black_holes,
            &mut t.drop_paws,
            &mut t.ts_missing,
            &mut t.wscale_clamped,
        ];
        for (i, f) in fields.into_iter().enumerate() {
            *f = 100 + i as u64;
        }
        let pairs = tcp_pairs(&t);
        assert_eq!(pairs.len(), 79);
        let mut values: Vec<u64> = pairs.iter().map(|p| p.1).collect();
        values.sort_unstable();
        assert_eq!(values, (100..179).collect::<Vec<u64>>());
        let mut names: Vec<&str> = pairs.iter().map(|p| p.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 79, "names are unique");
    }

    #[test]
    fn every_icmp_counter_is_shown_and_a_message_nobody_acts_on_is_a_drop() {
        let icmp = ip::IcmpStats {
            rx_messages: 7,
            drop_ignored_type: 3,
            ..Default::default()
        };
        let pairs = icmp_pairs(&icmp, 0);
        assert_eq!(pairs.len(), 29);
        let mut names: Vec<&str> = pairs.iter().map(|p| p.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 29, "names are unique");
        let shown = format_line("icmp", &pairs);
        assert!(shown.contains(" drop_ignored_type=3"), "{shown}");
        assert!(shown.starts_with("icmp      rx=7 "), "{shown}");
    }

    #[test]
    fn a_long_section_name_is_set_apart_and_zero_drops_are_left_out() {
        let pairs = [("rx_packets", 5), ("drop_runt", 0), ("drop_too_big", 2)];
        assert_eq!(
            format_line("dev tap0 io=uring-tx", &pairs),
            "dev tap0 io=uring-tx rx_packets=5 drop_too_big=2"
        );
        assert_eq!(format_line("if lo", &pairs[..1]), "if lo     rx_packets=5");
        assert_eq!(format_line("ipv4567890", &[]), "ipv4567890 ");
    }

    /// `stat` shows every counter the stack keeps: the ARP cache also counts the entries
    /// it resolved, the entries that expired and the probes (sender 0.0.0.0) it received
    /// (`arp::CacheStats`), which the `arp` line left out. `stat` prints to the process's
    /// stdout, which a test cannot capture: the test runs itself again in a child process
    /// and reads the child's output.
    #[test]
    fn every_arp_counter_is_shown() {
        let test = "cmd::stat::tests::every_arp_counter_is_shown";
        let Some((out, _)) = crate::cmd::testing::in_child(test, run) else {
            return;
        };
        let arp = out
            .lines()
            .find(|l| l.starts_with("arp lo"))
            .unwrap_or_else(|| panic!("no arp line: {out}"));
        for name in ["resolved=0", "expired=0", "probes_in=0"] {
            assert!(arp.split(' ').any(|w| w == name), "{name} missing: {arp}");
        }
    }
}
