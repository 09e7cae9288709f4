//! First-boot settings through the flow: what the image does with them is found out as it is
//! read (its catalog entry, a look inside a plain file, or the card after writing), the
//! settings chosen go with the write, and the end tells what was applied, or that an image
//! without a mechanism got none.

use blockprint::firstboot::{Applied, Format, Unsupported, parse};

use super::*;
use crate::gui::flow::{FirstBootChoice, FirstBootSupport, Unsettable};
use crate::gui::job::Written;
use crate::gui::present;
use crate::gui::testing::{assert_german, in_german};

fn choice() -> FirstBootChoice {
    let settings = parse(
        r#"
hostname = "pi-kitchen"
[user]
name = "alex"
password_hash = "$6$rounds=5000$abcdefgh$0123456789"
[ssh]
authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDvYg alex@laptop"]
[wifi]
ssid = "Home"
password = "secret passphrase"
country = "GB"
"#,
        "test",
    )
    .unwrap();
    FirstBootChoice {
        settings,
        profile: Some("Kitchen".into()),
        remember: false,
    }
}

/// The image of `testing::ready`, with the answer of the look inside it.
fn ready_with(found: Result<Format, Unsettable>) -> Flow {
    let mut flow = ready();
    assert_eq!(flow.first_boot_support, FirstBootSupport::Detecting);
    assert!(flow.may_customise(), "while it is looked at");
    flow.update(Msg::FirstBootDetected(
        Input::Path("/images/pi.img".into()),
        found,
    ));
    flow
}

/// Writes to sdb; the request the job gets.
fn request(flow: &mut Flow) -> Request {
    flow.update(Msg::GoTo(Step::Drive));
    flow.update(Msg::Write);
    let effects = flow.update(Msg::WriteConfirmed);
    let [Effect::Start(request)] = &effects[..] else {
        panic!("expected the job to start, got {effects:?}");
    };
    (**request).clone()
}

fn summary(first_boot: Option<Written>) -> Summary {
    Summary {
        elapsed: std::time::Duration::from_secs(3),
        written: 100,
        ranges: 1,
        ranges_verified: 1,
        read_back: true,
        skipped: false,
        removal: Ok(Removal::PoweredOff),
        first_boot,
        write_speed: None,
        rewritten: 0,
        capacity: None,
        streamed: None,
    }
}

#[test]
fn a_plain_image_is_looked_inside_and_the_settings_go_with_the_write() {
    let mut flow = Flow::new(true, true, false);
    let pi = Input::Path("/images/pi.img".into());
    flow.update(Msg::OpenImage(pi.clone()));
    let effects = flow.update(Msg::Inspected(Ok(Box::new(image(4_000_000_000)))));
    assert!(
        matches!(&effects[..], [Effect::DetectFirstBoot(input)] if *input == pi),
        "{effects:?}"
    );
    // Read again (another preference): what was found stays, nothing is looked at again.
    flow.update(Msg::FirstBootDetected(pi.clone(), Ok(Format::Systemd)));
    assert_eq!(
        flow.first_boot_support,
        FirstBootSupport::Found(Format::Systemd)
    );
    let effects = flow.update(Msg::Inspected(Ok(Box::new(image(4_000_000_000)))));
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(
        flow.first_boot_support,
        FirstBootSupport::Found(Format::Systemd)
    );

    let (rows, _, _, _) = present::views(&flow);
    let row = rows.image.unwrap().first_boot;
    assert_eq!(row.title, "First-Boot Settings");
    assert_eq!(
        row.subtitle,
        "No settings\nThis image sets itself up with the Raspberry Pi OS first-boot script."
    );

    flow.update(Msg::FirstBoot(Some(Box::new(choice()))));
    let (rows, _, _, _) = present::views(&flow);
    assert_eq!(
        rows.image.unwrap().first_boot.subtitle,
        "hostname pi-kitchen, user alex, SSH keys 1, Wi-Fi Home\nThis image sets itself up \
         with the Raspberry Pi OS first-boot script."
    );
    plug(&mut flow, drive("sdb", 32_000_000_000));
    let request = request(&mut flow);
    let first_boot = request.first_boot.expect("the settings go with the write");
    assert_eq!(first_boot.settings, choice().settings);
    assert_eq!(
        first_boot.declared, None,
        "the card is looked at as the image was"
    );
    assert!(!flow.may_customise(), "not while writing");
    flow.update(Msg::FirstBoot(None));
    assert!(flow.first_boot.is_some(), "no change while writing");

    // The end says what was applied and read back.
    let written = Written {
        applied: Applied {
            format: Format::Systemd,
            files: vec!["firstrun.sh".into(), "cmdline.txt".into()],
            summary: "hostname pi-kitchen, user alex, SSH keys 1, Wi-Fi Home".into(),
        },
        settings: first_boot,
    };
    end(&mut flow, vec![Outcome::Done(summary(Some(written)))]);
    let ending = present::write_view(&flow).ending.unwrap();
    assert!(
        ending.body.contains(
            "Settings applied and read back: hostname pi-kitchen, user alex, SSH keys 1, \
             Wi-Fi Home."
        ),
        "{}",
        ending.body
    );
    assert!(
        ending
            .details
            .as_deref()
            .unwrap()
            .contains("First-boot files (systemd): firstrun.sh, cmdline.txt."),
        "{:?}",
        ending.details
    );

    // "Nothing to write" clears them for the next card.
    flow.update(Msg::FirstBoot(None));
    assert_eq!(flow.first_boot, None);
}

#[test]
fn an_image_without_a_mechanism_cannot_be_customised_and_is_written_without_settings() {
    let mut flow = ready_with(Ok(Format::Systemd));
    flow.update(Msg::FirstBoot(Some(Box::new(choice()))));
    // Another image, which turns out to have no mechanism: its answer is for it alone.
    let other = Input::Path("/images/debian.img".into());
    flow.update(Msg::OpenImage(other.clone()));
    let mut debian = image(4_000_000_000);
    debian.input = other.clone();
    flow.update(Msg::Inspected(Ok(Box::new(debian))));
    flow.update(Msg::FirstBootDetected(
        Input::Path("/images/pi.img".into()),
        Ok(Format::Systemd),
    ));
    assert_eq!(flow.first_boot_support, FirstBootSupport::Detecting);
    let why = "this image has no first-boot mechanism Blockprint knows (no cloud-init seed)";
    let unsettable = |why: Unsupported, details: &str| Unsettable {
        why: Some(why),
        details: details.into(),
    };
    let boot = "partition 1".to_owned();
    flow.update(Msg::FirstBootDetected(
        other.clone(),
        Err(unsettable(Unsupported::NoFiles { boot }, why)),
    ));
    assert!(!flow.may_customise());
    let (rows, _, _, _) = present::views(&flow);
    let rows = rows.image.unwrap();
    assert_eq!(
        rows.first_boot.subtitle,
        "This image has no first-boot mechanism Blockprint knows"
    );
    assert_eq!(rows.first_boot_tooltip.as_deref(), Some(why));
    // An Armbian image is named as such, the engine's words in the tooltip.
    let root = "partition 1 (MBR)".to_owned();
    flow.first_boot_support =
        FirstBootSupport::Missing(unsettable(Unsupported::Armbian { root }, "armbian"));
    let (rows, _, _, _) = present::views(&flow);
    let rows = rows.image.unwrap();
    assert_eq!(
        rows.first_boot.subtitle,
        "Armbian asks for these settings at its first login on the board"
    );
    assert_eq!(rows.first_boot_tooltip.as_deref(), Some("armbian"));

    let request = request(&mut flow);
    assert!(request.first_boot.is_none(), "never sent to be refused");
    end(&mut flow, vec![Outcome::Done(summary(None))]);
    let ending = present::write_view(&flow).ending.unwrap();
    assert!(
        ending.body.contains(
            "The first-boot settings were not written: this image has no first-boot \
             mechanism Blockprint knows."
        ),
        "{}",
        ending.body
    );
    // The settings stay chosen for the next image.
    assert_eq!(flow.first_boot, Some(choice()));
}

#[test]
fn a_catalog_s_word_is_taken_and_a_compressed_image_is_looked_at_on_the_card() {
    let url = |text| blockprint::source::http::Url::parse(text).unwrap();
    let chosen = blockprint::catalog::Chosen {
        id: "ubuntu".into(),
        name: "Ubuntu Server".into(),
        release_date: None,
        catalog: "https://downloads.example.org/os_list.json".into(),
        image: blockprint::catalog::Image {
            url: url("https://downloads.example.org/ubuntu.img.xz"),
            extract_sha256: None,
            extract_size: None,
            download_sha256: None,
            download_size: None,
            bmap_url: None,
            signature_url: None,
            init_format: Some("cloudinit".into()),
        },
    };
    let mut flow = Flow::new(true, true, false);
    let input = Input::Catalog(Box::new(chosen.clone()));
    flow.update(Msg::OpenImage(input.clone()));
    let mut info = image(4_000_000_000);
    info.input = input;
    let xz = blockprint::source::Layer {
        format: blockprint::source::Format::Xz,
        member: None,
        xz_blocks: None,
    };
    info.layers = vec![xz.clone()];
    let effects = flow.update(Msg::Inspected(Ok(Box::new(info.clone()))));
    assert!(effects.is_empty(), "nothing to look inside: {effects:?}");
    assert_eq!(
        flow.first_boot_support,
        FirstBootSupport::Declared(Format::CloudInit)
    );
    assert_eq!(
        present::first_boot_about(&flow.first_boot_support),
        "This image sets itself up with cloud-init."
    );
    flow.update(Msg::FirstBoot(Some(Box::new(choice()))));
    plug(&mut flow, drive("sdb", 32_000_000_000));
    let request = request(&mut flow);
    assert_eq!(
        request.first_boot.unwrap().declared,
        Some(Format::CloudInit)
    );

    // A compressed file of one's own: only the card tells.
    let mut flow = Flow::new(true, true, false);
    let packed = Input::Path("/images/pi.img.xz".into());
    flow.update(Msg::OpenImage(packed.clone()));
    info.input = packed;
    assert!(flow.update(Msg::Inspected(Ok(Box::new(info)))).is_empty());
    assert_eq!(flow.first_boot_support, FirstBootSupport::AfterWriting);
    assert!(flow.may_customise());
    let (rows, _, _, _) = present::views(&flow);
    assert_eq!(
        rows.image.unwrap().first_boot.subtitle,
        "No settings\nWhether this image can take them is checked on the card after writing."
    );
}

#[test]
fn the_first_boot_words_are_german_in_german() {
    in_german(
        module_path!(),
        "the_first_boot_words_are_german_in_german",
        || {
            let mut flow = ready_with(Ok(Format::Systemd));
            flow.update(Msg::FirstBoot(Some(Box::new(choice()))));
            let (rows, _, _, _) = present::views(&flow);
            let row = rows.image.unwrap().first_boot;
            assert_eq!(row.title, "Einstellungen für den ersten Start");
            assert_eq!(
                row.subtitle,
                "Hostname pi-kitchen, Benutzer alex, 1 SSH-Schlüssel, WLAN Home\nDieses \
                 Abbild richtet sich mit dem Ersteinrichtungs-Skript von Raspberry Pi OS ein."
            );
            assert_german(&row.subtitle, "");
            let why = "this image has no first-boot mechanism Blockprint knows";
            flow.first_boot_support = FirstBootSupport::Missing(Unsettable {
                why: None,
                details: why.into(),
            });
            let (rows, _, _, _) = present::views(&flow);
            let row = rows.image.unwrap().first_boot;
            assert_german(&row.subtitle, why);
        },
    );
}
