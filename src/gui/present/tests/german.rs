//! Each page's error states in German, as a user with `LANGUAGE=de` sees them: every title,
//! sentence and line is translated, and the engine's English stays under "Technical Details".

use blockprint::signature::{Refusal, SignatureCheck, SignatureError, Signer, TrustSource};
use blockprint::source::InputError;

use super::errors::{bmap_error, image_errors, job_errors};
use super::*;
use crate::gui::flow::DrivesError;
use crate::gui::job::Outcome;
use crate::gui::testing::{assert_german, in_german, internal, write_failed};
use crate::gui::wording::{UserFacing, user_error};

#[test]
fn the_image_page_in_german() {
    in_german(module_path!(), "the_image_page_in_german", || {
        for (error, title) in image_errors() {
            let engine = error.to_string();
            let mut flow = Flow::new(true, true, false);
            flow.update(Msg::Inspected(Err(error)));
            let (view, _, _, _) = views(&flow);
            let shown = view.error.expect("the error row");
            assert_eq!(shown.title, title, "{engine}");
            assert_german(&shown.subtitle, &engine);
            assert!(view.details.is_some_and(|d| d.starts_with(&engine)));
        }
        // A block map that cannot be used, however it is broken.
        for kind in [
            BmapErrorKind::UnsupportedVersion("3.0".into()),
            BmapErrorKind::FileChecksum {
                calculated: "ab".into(),
                stored: "cd".into(),
            },
            BmapErrorKind::Xml("unexpected end of file".into()),
        ] {
            let error = bmap_error(kind);
            let engine = error.to_string();
            let mut broken = image(4096);
            broken.bmap = BmapState::Invalid {
                location: "/images/pi.img.bmap".into(),
                error: Arc::new(error),
            };
            let mut flow = Flow::new(true, true, false);
            flow.update(Msg::Inspected(Ok(Box::new(broken))));
            let rows = views(&flow).0.image.expect("the image's rows");
            assert_eq!(
                rows.bmap.title,
                "Die Blockzuordnung kann nicht verwendet werden"
            );
            let write = rows
                .write
                .expect("the row that says why nothing is written");
            assert_german(&write.subtitle, &engine);
        }
        // A refused signature.
        let mut refused = image(4096);
        refused.signature = SignatureState::Refused(Refusal::Failed(SignatureCheck::Revoked {
            signer: Signer {
                fingerprint: "AB12".into(),
                key: "AB12".into(),
                user_id: None,
                source: TrustSource::Keyring("k.gpg".into()),
            },
        }));
        let mut flow = Flow::new(true, true, false);
        flow.update(Msg::Inspected(Ok(Box::new(refused))));
        let rows = views(&flow).0.image.expect("the image's rows");
        let signature = rows.signature.expect("a refused signature is shown");
        assert_german(&signature.title, "");
        assert_german(&signature.subtitle, "");
        // The toasts over the page: a web address that is not one, a key that is not the one.
        let toasts = [
            toast(InputError::Scheme {
                text: "ftp://example.org/pi.img".into(),
                scheme: "ftp".into(),
            }),
            toast(InputError::Url {
                text: "http://".into(),
                reason: "empty host".into(),
            }),
            toast(SignatureError::KeyNotInFile {
                path: "/home/me/key.asc".into(),
                issuer: "AB12".into(),
            }),
            toast(SignatureError::BadKeys {
                path: "/home/me/notes.txt".into(),
                reason: "no packets".into(),
            }),
        ];
        for (body, engine) in toasts {
            assert_german(&body, &engine);
        }
    });
}

/// A toast's sentence, and the engine's message it stands for.
fn toast<E: UserFacing + std::error::Error>(error: E) -> (String, String) {
    (user_error(&error).body, error.to_string())
}

#[test]
fn the_drive_page_in_german() {
    in_german(module_path!(), "the_drive_page_in_german", || {
        let mut flow = ready();
        plug(&mut flow, drive("sdc", 2_000_000_000));
        flow.update(Msg::ShowAll(true));
        flow.update(Msg::GoTo(Step::Drive));
        let (_, view, _, _) = views(&flow);
        assert_eq!(view.rows.len(), 3, "the internal disk too");
        for row in &view.rows {
            let reasons = row.row.subtitle.lines().skip(1);
            for text in reasons.chain([row.description.as_str()]) {
                assert_german(text, "");
            }
            if let Some(badge) = &row.badge {
                assert_german(&badge.text, "");
            }
        }
        assert_eq!(view.write, "_Schreiben");

        let errors = [
            DrivesError::Unavailable(UdisksError::Unavailable(
                "org.freedesktop.UDisks2 was not provided by any .service files".into(),
            )),
            DrivesError::Lost("connection closed".into()),
        ];
        for error in errors {
            let engine = error.to_string();
            let mut flow = Flow::new(true, true, false);
            plug(&mut flow, internal("sda"));
            match error {
                DrivesError::Unavailable(e) => flow.update(Msg::DrivesUnavailable(e)),
                DrivesError::Lost(why) => flow.update(Msg::Drive(Box::new(DriveEvent::Lost(why)))),
            };
            let empty = views(&flow).1.empty;
            assert_eq!(
                empty.words.title,
                "Laufwerke können nicht aufgelistet werden"
            );
            assert_german(&empty.words.subtitle, &engine);
            assert!(empty.details.is_some_and(|d| d.contains(&engine)));
        }
    });
}

#[test]
fn the_write_page_in_german() {
    in_german(module_path!(), "the_write_page_in_german", || {
        for error in job_errors() {
            let engine = error.to_string();
            let mut flow = ready();
            flow.update(Msg::GoTo(Step::Drive));
            flow.update(Msg::SelectDrive(drive("sdb", 0).key));
            flow.update(Msg::Write);
            flow.update(Msg::WriteConfirmed);
            let outcome = Outcome::Failed {
                error: Arc::new(error),
                touched: true,
            };
            end(&mut flow, vec![outcome]);
            let ending = write_view(&flow).ending.expect("the ending");
            assert_german(&ending.title, &engine);
            assert_german(&ending.body, &engine);
            assert!(ending.details.is_some_and(|d| d.starts_with(&engine)));
        }
        // Stopped, with nothing written or part of it.
        for touched in [false, true] {
            let mut flow = ready();
            flow.update(Msg::GoTo(Step::Drive));
            flow.update(Msg::SelectDrive(drive("sdb", 0).key));
            flow.update(Msg::Write);
            flow.update(Msg::WriteConfirmed);
            end(&mut flow, vec![Outcome::Cancelled { touched }]);
            let ending = write_view(&flow).ending.expect("the ending");
            assert_eq!(ending.title, "Schreiben gestoppt");
            assert_german(&ending.body, "");
        }
        // Two drives: one dropped while the other goes on, then both over.
        let mut flow = writing_two();
        let error = write_failed("/dev/sdc");
        let reason = error.to_string();
        flow.update(Msg::Job(JobEvent::Dropped { drive: 1, error }));
        let lines = write_view(&flow).lines;
        assert_german(&lines[1].status, &reason);
        assert_german(&lines[1].detail, &reason);
        end(&mut flow, vec![failed(false), failed(true)]);
        let ending = write_view(&flow).ending.expect("the ending");
        assert_eq!(ending.title, "2 von 2 Laufwerken nicht beschrieben");
        assert_german(&ending.body, "");
        for line in &ending.lines {
            assert_german(&line.status, "");
            assert_german(&line.detail, "");
        }
    });
}
