//! The pages' views of a flow driven by messages, as the window drives it: the words on
//! screen, and what is shown or offered at each step.

use std::path::PathBuf;
use std::sync::Arc;

use blockprint::bmap::{BmapError, BmapErrorKind};
use blockprint::progress::Phase;
use blockprint::source::Input;
use blockprint::udisks::{DriveEvent, UdisksError};

use super::*;
use crate::gui::flow::Msg;
use crate::gui::format_page::FormatView;
use crate::gui::inspect::{BmapState, SignatureState};
use crate::gui::job::{JobEvent, Stage};
use crate::gui::page::Row;
use crate::gui::testing::{
    drive, end, failed, gone, image, plug, ready, start_writing, write_failed,
};
use crate::gui::wording::signature::Tone;
use crate::gui::write_line::LineState;
use crate::gui::write_page::{Look, MarkState};

mod backup;
mod errors;
mod german;

/// A block map of a format version Blockprint does not read.
fn unsupported_bmap() -> BmapState {
    BmapState::Invalid {
        location: "/images/pi.img.bmap".into(),
        error: Arc::new(BmapError {
            path: PathBuf::from("/images/pi.img.bmap"),
            line: Some(2),
            kind: BmapErrorKind::UnsupportedVersion("3.0".into()),
        }),
    }
}

/// `ready()`, with the stick and a second one chosen and written: the job has begun.
fn writing_two() -> Flow {
    let mut flow = ready();
    plug(&mut flow, drive("sdc", 16_000_000_000));
    flow.update(Msg::GoTo(Step::Drive));
    flow.update(Msg::SelectAllSuitable);
    flow.update(Msg::Write);
    flow.update(Msg::WriteConfirmed);
    assert!(flow.writing());
    flow
}

#[test]
fn the_image_page_shows_the_image_its_block_map_and_why_one_failed() {
    let mut flow = Flow::new(true, true, false);
    flow.update(Msg::OpenImage(Input::Path("/images/pi.img".into())));
    let (view, _, _, _) = views(&flow);
    assert_eq!(view.busy.as_deref(), Some("Reading the image…"));
    assert!(view.image.is_none() && view.error.is_none() && view.details.is_none());

    flow.update(Msg::Inspected(Ok(Box::new(image(4_000_000_000)))));
    let (view, _, _, _) = views(&flow);
    let rows = view.image.expect("the image's rows");
    assert_eq!(view.busy, None);
    assert_eq!(rows.image.title, "pi.img");
    assert_eq!(rows.image.subtitle, "Disk image · 4.0\u{a0}GB");
    // Review finding 4: "Fast write", the path in a tooltip, the block map under Advanced,
    // and no row for a signature nobody expects.
    let write = rows.write.as_ref().expect("the write row");
    assert_eq!(write.title, "Fast write");
    assert!(
        write.subtitle.starts_with("Only ")
            && write.subtitle.ends_with(" of 4.0\u{a0}GB needs writing"),
        "{}",
        write.subtitle
    );
    assert_eq!(rows.write_tooltip.as_deref(), Some("/images/pi.img.bmap"));
    assert_eq!(rows.bmap.title, "Block map found");
    assert_eq!(rows.bmap.subtitle, "/images/pi.img.bmap");
    assert!(rows.fast && !rows.everything && !rows.trust);
    assert_eq!(rows.signature, None, "most images are not signed: no news");
    // A map of every byte (a scan that knew no filesystem there) makes nothing faster.
    let mut whole = image(8192);
    let all = blockprint::bmap::BlockRange {
        first: 0,
        last: 1,
        checksum: None,
    };
    whole.bmap = BmapState::Created {
        bmap: Arc::new(
            blockprint::bmap::Bmap::new(
                8192,
                4096,
                blockprint::bmap::ChecksumType::Sha256,
                vec![all],
            )
            .unwrap(),
        ),
    };
    flow.update(Msg::Inspected(Ok(Box::new(whole))));
    let rows = views(&flow).0.image.expect("the image's rows");
    assert_eq!(
        rows.write.map(|r| r.title).as_deref(),
        Some("Every byte is written")
    );
    assert!(!rows.fast);
    // Unsigned where trusted keys are kept: that is worth a row.
    let mut expected = image(4_000_000_000);
    expected.signature = SignatureState::Unsigned { expected: true };
    flow.update(Msg::Inspected(Ok(Box::new(expected))));
    let rows = views(&flow).0.image.expect("the image's rows");
    assert_eq!(
        (rows.signature.map(|r| r.title), rows.tone),
        (Some("Not signed".to_owned()), Tone::Warning)
    );

    // A block map Blockprint cannot read: the row says what to do, the details say why.
    let mut unusable = image(4096);
    unusable.bmap = unsupported_bmap();
    unusable.signature = SignatureState::UnknownKey {
        issuer: "AB12".into(),
    };
    flow.update(Msg::Inspected(Ok(Box::new(unusable))));
    let (view, _, _, _) = views(&flow);
    let rows = view.image.expect("the image's rows");
    assert_eq!(rows.bmap.title, "The block map cannot be used");
    assert_eq!(rows.bmap.subtitle, "/images/pi.img.bmap");
    let write = rows.write.as_ref().expect("the write row");
    assert_eq!(write.title, "The block map cannot be used");
    assert!(
        write.subtitle.starts_with("It is in a block map format"),
        "{}",
        write.subtitle
    );
    assert!(!rows.fast && rows.everything && rows.trust);
    assert!(
        rows.signature.is_some(),
        "a signature by an unknown key is shown"
    );
    assert_eq!(
        view.details.as_deref(),
        Some(
            "bmap file '/images/pi.img.bmap', line 2: bmap format version 3.0 is not \
             supported (up to 2.x)"
        )
    );

    // An image that is not there: the error in plain words, the engine's folded away, and
    // the image open before still there (review finding 15).
    flow.update(Msg::OpenImage(Input::Path("/images/gone.img".into())));
    flow.update(Msg::Inspected(Err(gone("gone.img"))));
    let (view, _, _, _) = views(&flow);
    assert_eq!(
        view.image.map(|rows| rows.image.title).as_deref(),
        Some("pi.img")
    );
    assert_eq!(
        view.error,
        Some(Row {
            title: "The image was not found".into(),
            subtitle: "gone.img is not there any more: it may have been moved or deleted. \
                       Open it from where it is now."
                .into(),
        })
    );
    assert_eq!(
        view.details.as_deref(),
        Some("cannot open image 'gone.img': entity not found")
    );
}

/// Without a block map the filesystems are read as the image is written: only what they use
/// is written, unless *Write Everything*, which a new image turns off again.
#[test]
fn an_image_without_a_block_map_writes_what_its_filesystems_use_or_everything() {
    let mut flow = Flow::new(true, true, false);
    let open = |flow: &mut Flow| {
        flow.update(Msg::OpenImage(Input::Path("/images/pi.img.xz".into())));
        let mut packed = image(4_000_000_000);
        packed.bmap = BmapState::Missing;
        packed.layers = vec![blockprint::source::Layer {
            format: blockprint::source::Format::Xz,
            member: None,
            xz_blocks: Some(4),
        }];
        flow.update(Msg::Inspected(Ok(Box::new(packed))));
    };
    open(&mut flow);
    let rows = views(&flow).0.image.expect("the image's rows");
    let write = rows.write.expect("the write row");
    assert_eq!(write.title, "Only what the filesystems use is written");
    assert!(rows.fast && rows.everything);
    assert_eq!(
        rows.bmap.subtitle,
        "The image is xz-compressed: its filesystems are read as it is written"
    );
    assert_eq!(
        image::write_summary(flow.image.as_ref().unwrap(), false),
        "Only what the filesystems use will be written"
    );
    // Of several blocks, its filesystems were read when it was opened: how much is known.
    let mut scanned = flow.image.clone().unwrap();
    scanned.filesystems_use = Some(1_100_000_000);
    flow.update(Msg::OpenImage(scanned.input.clone()));
    flow.update(Msg::Inspected(Ok(Box::new(scanned.clone()))));
    let rows = views(&flow).0.image.expect("the image's rows");
    assert_eq!(
        rows.write.map(|r| (r.title, r.subtitle)),
        Some((
            "Only what the filesystems use is written".to_owned(),
            "Only 1.1\u{a0}GB of 4.0\u{a0}GB needs writing".to_owned()
        ))
    );
    assert_eq!(
        rows.bmap.subtitle,
        "None came with the image: its filesystems were read from their metadata"
    );
    assert_eq!(
        image::write_summary(&scanned, false),
        "Only the 1.1\u{a0}GB the filesystems use will be written"
    );
    open(&mut flow);
    flow.update(Msg::WriteEverything(true));
    let rows = views(&flow).0.image.expect("the image's rows");
    assert_eq!(
        rows.write.map(|r| (r.title, r.subtitle)),
        Some((
            "Every byte is written".to_owned(),
            "The whole image (4.0\u{a0}GB) will be written".to_owned()
        ))
    );
    assert!(!rows.fast);
    open(&mut flow);
    assert!(!flow.write_everything, "a new image starts without it");
}

#[test]
fn the_drive_page_words_each_drive_counts_the_chosen_and_says_why_there_is_no_list() {
    let mut flow = ready();
    plug(&mut flow, drive("sdc", 2_000_000_000));
    flow.update(Msg::GoTo(Step::Drive));
    let (_, view, _, _) = views(&flow);
    assert_eq!(view.image.title, "pi.img");
    assert_eq!(
        (view.write.as_str(), view.can_write),
        ("_Write", true),
        "the only suitable stick is chosen"
    );
    assert!(
        !view.several_suitable,
        "Select All Suitable is hidden with one suitable drive"
    );
    let [stick, small] = &view.rows[..] else {
        panic!("the internal disk is not listed: {:?}", view.rows);
    };
    assert_eq!(stick.row.title, "SanDisk Ultra");
    assert_eq!(stick.row.subtitle, "32.0\u{a0}GB · USB");
    assert_eq!(stick.tooltip, "/dev/sdb", "the device is in the tooltip");
    assert_eq!(stick.icon, "drive-harddisk-usb-symbolic");
    assert!(stick.enabled && stick.selected && stick.badge.is_none());
    assert_eq!(
        stick.description,
        "SanDisk Ultra, chosen, 32.0\u{a0}GB · USB"
    );
    // Review finding 19: at most three lines (the name, its facts, the gravest reason); the
    // device and every reason in the tooltip.
    assert_eq!(
        small.row.subtitle.lines().count(),
        2,
        "{}",
        small.row.subtitle
    );
    assert!(
        small.tooltip.starts_with("/dev/sdc\nThe image needs"),
        "{}",
        small.tooltip
    );
    let badge = small.badge.as_ref().expect("a badge");
    assert_eq!(badge.text, "Too small");
    assert!(!small.enabled);
    assert!(
        small
            .description
            .starts_with("SanDisk Ultra, cannot be written: The image needs"),
        "{}",
        small.description
    );

    plug(&mut flow, drive("sdd", 8_000_000_000));
    let (_, view, _, _) = views(&flow);
    assert!(view.several_suitable && view.select_all);
    flow.update(Msg::SelectDrive(drive("sdd", 0).key));
    let (_, view, _, _) = views(&flow);
    assert_eq!(view.write, "_Write to 2 Drives");
    assert!(!view.select_all, "both are chosen");

    assert_eq!(view.empty.words.title, "Insert a USB Drive or SD Card");
    flow.update(Msg::Drive(Box::new(DriveEvent::Lost(
        "connection closed".into(),
    ))));
    let (_, view, _, _) = views(&flow);
    assert!(view.rows.is_empty());
    assert_eq!(view.empty.icon, "dialog-error-symbolic");
    assert_eq!(view.empty.words.title, "Drives Cannot Be Listed");
    assert!(
        view.empty
            .words
            .subtitle
            .starts_with("The UDisks service stopped answering")
    );
    assert_eq!(
        view.empty.details.as_deref(),
        Some("lost udisksd: connection closed")
    );

    let mut flow = Flow::new(true, true, false);
    flow.update(Msg::DrivesUnavailable(UdisksError::Unavailable(
        "org.freedesktop.UDisks2 was not provided".into(),
    )));
    let (_, view, _, _) = views(&flow);
    assert!(
        view.empty
            .words
            .subtitle
            .contains("Install and start udisks2")
    );
}

#[test]
fn the_write_page_follows_the_least_advanced_drive_and_gives_each_a_line() {
    let mut flow = writing_two();
    let (_, _, view, _) = views(&flow);
    assert_eq!(view.headline, "pi.img to 2 drives");
    let progress = view.progress.expect("progress");
    assert_eq!(progress.title, "Preparing");
    assert!(progress.bar.is_none(), "several drives have a bar each");
    assert_eq!(view.lines.len(), 2);
    assert_eq!(view.lines[0].status, "Preparing");

    for (drive, stage, phase) in [
        (0, Stage::Verifying, Phase::ReadBack),
        (1, Stage::Writing, Phase::Writing),
    ] {
        flow.update(Msg::Job(JobEvent::Phase {
            drive,
            stage,
            phase: Some(phase),
            total: Some(100),
        }));
    }
    let view = write_view(&flow);
    let progress = view.progress.expect("progress");
    assert_eq!(progress.title, "Writing");
    assert!(!progress.skip);
    let states: Vec<MarkState> = progress.marks.iter().map(|m| m.state).collect();
    assert_eq!(
        states,
        [
            MarkState::Done,
            MarkState::Current,
            MarkState::ToDo,
            MarkState::ToDo
        ]
    );
    assert_eq!(progress.marks[0].spoken, "done");

    // The second drive is dropped: its line says so, and the strip follows the other one.
    flow.update(Msg::Job(JobEvent::Dropped {
        drive: 1,
        error: write_failed("/dev/sdc"),
    }));
    let view = write_view(&flow);
    let progress = view.progress.expect("progress");
    assert_eq!(
        (progress.title.as_str(), progress.skip),
        ("Verifying", true)
    );
    let line = &view.lines[1];
    assert_eq!(
        (line.status.as_str(), line.state),
        ("Failed", LineState::Failed)
    );
    assert!(
        line.detail.starts_with("The drive reported an error") && line.detail.ends_with("go on."),
        "{}",
        line.detail
    );
    assert!(
        !line.detail.contains("/dev/sdc"),
        "no engine words on the line"
    );

    end(&mut flow, vec![]);
    let view = write_view(&flow);
    assert!(view.progress.is_none() && view.lines.is_empty());
    let ending = view.ending.expect("the ending");
    assert_eq!(ending.title, "Writing Stopped");
    assert_eq!(ending.look, Look::Stopped);
    assert!(ending.retry_failed && !ending.retry);
    assert_eq!(ending.lines.len(), 2);
}

#[test]
fn one_drive_has_the_big_bar_and_its_own_ending() {
    let mut flow = ready();
    start_writing(&mut flow);
    flow.update(Msg::Job(JobEvent::Phase {
        drive: 0,
        stage: Stage::Writing,
        phase: Some(Phase::Writing),
        total: Some(4_000_000),
    }));
    flow.update(Msg::Job(JobEvent::Progress {
        drive: 0,
        done: 1_000_000,
    }));
    let view = write_view(&flow);
    assert_eq!(view.headline, "pi.img to SanDisk Ultra (32.0\u{a0}GB)");
    assert!(view.lines.is_empty());
    let bar = view.progress.and_then(|p| p.bar).expect("the big bar");
    assert_eq!(bar.fraction, Some(0.25));
    assert_eq!(bar.text, "1.0\u{a0}MB of 4.0\u{a0}MB");

    // Stopped, until the job has ended: "Stopping…", and no Skip (Cancel is disabled).
    flow.update(Msg::Cancel);
    flow.update(Msg::CancelConfirmed { quit: false });
    let progress = write_view(&flow).progress.expect("still running");
    assert_eq!(
        (progress.title.as_str(), progress.skip),
        ("Stopping…", false)
    );

    end(&mut flow, vec![failed(true)]);
    let ending = write_view(&flow).ending.expect("the ending");
    assert_eq!(ending.title, "No Authentication Agent");
    assert!(ending.body.ends_with("before using it."), "{}", ending.body);
    assert_eq!((ending.look, ending.retry), (Look::Failed, true));
    assert!(ending.details.is_some_and(|d| d.contains("/dev/sdb")));
    assert_eq!(
        notification(flow.write.drives(), "pi.img"),
        (ending.title.clone(), ending.body.clone())
    );
}

#[test]
fn the_header_names_the_step_and_offers_back_only_when_it_leads_somewhere() {
    let mut flow = ready();
    let image = header(&flow);
    assert_eq!((image.page, image.back), ("image", false));
    assert_eq!(image.subtitle, "Step 1 of 3 · Choose an image");
    flow.update(Msg::GoTo(Step::Drive));
    assert_eq!(
        header(&flow),
        Header {
            page: "drive",
            subtitle: "Step 2 of 3 · Choose a drive".into(),
            back: true,
        }
    );
    flow.update(Msg::SelectDrive(drive("sdb", 0).key));
    flow.update(Msg::Write);
    flow.update(Msg::WriteConfirmed);
    let write = header(&flow);
    assert_eq!((write.page, write.back), ("write", false));
    assert_eq!(write.subtitle, "Step 3 of 3 · Write");
}

#[test]
fn formatting_has_its_own_page_with_progress_and_an_end() {
    let mut flow = ready();
    let stick = drive("sdb", 32_000_000_000);
    flow.update(Msg::FormatConfirmed(Box::new(stick.clone())));
    assert_eq!(header(&flow).page, "format");
    assert!(!header(&flow).back, "no leaving while formatting");
    let (_, _, _, view) = views(&flow);
    assert_eq!(
        view.running.as_deref(),
        Some("Formatting SanDisk Ultra (32.0\u{a0}GB, /dev/sdb)…")
    );
    flow.update(Msg::Formatted(Ok(())));
    let end = views(&flow).3.end.expect("its end");
    assert_eq!((end.title.as_str(), end.ok), ("Drive Formatted", true));
    assert!(end.details.is_none());

    flow.update(Msg::FormatConfirmed(Box::new(stick)));
    flow.update(Msg::Formatted(Err(UdisksError::NoAgent {
        action: "open".into(),
        device: "/dev/sdb".into(),
    })));
    let end = views(&flow).3.end.expect("its end");
    assert_eq!(
        (end.title.as_str(), end.ok),
        ("The Drive Could Not Be Formatted", false)
    );
    assert!(
        end.body
            .ends_with("may be partly erased: format it again before using it.")
    );
    assert!(end.details.is_some_and(|d| d.contains("/dev/sdb")));
    // Review finding 8: leaving the end forgets it; the write page never speaks of it.
    flow.update(Msg::FormatDone);
    assert_eq!(header(&flow).page, "image");
    assert_eq!(views(&flow).3, FormatView::default());
}

#[test]
fn a_catalog_image_says_what_checks_it_and_whether_it_is_downloaded() {
    let url = |text| blockprint::source::http::Url::parse(text).unwrap();
    let mut chosen = blockprint::catalog::Chosen {
        id: "pi-os".into(),
        name: "Pi OS".into(),
        release_date: Some("2026-11-19".into()),
        catalog: "https://downloads.example.org/os_list.json".into(),
        image: blockprint::catalog::Image {
            url: url("https://downloads.example.org/pi.img.xz"),
            extract_sha256: Some([1; 32]),
            extract_size: None,
            download_sha256: Some([2; 32]),
            download_size: None,
            bmap_url: None,
            signature_url: None,
            init_format: None,
        },
    };
    let row = image::describe_origin(&chosen, None);
    assert_eq!(row.title, "Checked against the catalog’s checksums");
    assert_eq!(
        row.subtitle,
        "Released 2026-11-19 · From downloads.example.org · Downloaded while it is written, \
         and kept for the next card"
    );
    let dir = tempfile::tempdir().unwrap();
    let cache = blockprint::catalog::ImageCache::new(dir.path().to_path_buf(), 1 << 30);
    let kept = dir.path().join(format!("{}.download", "02".repeat(32)));
    std::fs::write(kept, b"kept").unwrap();
    let row = image::describe_origin(&chosen, Some(&cache));
    assert!(
        row.subtitle
            .ends_with("Downloaded before: nothing to download")
    );
    (chosen.image.download_sha256, chosen.image.extract_sha256) = (None, None);
    chosen.catalog = "/home/alex/list.json".into();
    let row = image::describe_origin(&chosen, Some(&cache));
    assert_eq!(row.title, "Not checked: the catalog gives no checksum");
    assert!(
        row.subtitle
            .contains("From /home/alex/list.json · Downloaded while it is written")
    );
}
