"""A local delivery that fails (here: a Maildir the delivery user may not
enter) does not lose the message: the client still gets its 250 once the
message is committed to the spool, the delivery is deferred and retried
with backoff, and it arrives exactly once after the problem is repaired."""
import os

import pytest

from conftest import make_message, wait_until


@pytest.mark.petrel_conf("retry-min 1s", "retry-max 2s")
def test_unwritable_maildir_is_retried(petrel):
    mail = petrel.mail_dir()
    owner = os.stat(mail)
    box = os.path.join(mail, "localhost", "demo")
    os.makedirs(os.path.join(mail, "localhost"), exist_ok=True)
    os.chmod(os.path.join(mail, "localhost"), 0o755)
    os.mkdir(box, 0o000)
    os.chmod(box, 0o000)

    qid = petrel.send(msg=make_message(subject="retry me"))
    assert qid
    # Deferred, and kept in the spool.
    wait_until(lambda: "status=deferred" in petrel.log(), 30,
               what="a deferred delivery in the log")
    assert petrel.queue_files(), "the message must wait in the spool"
    assert petrel.count() == 0

    # Repair: the delivery user may enter the Maildir again.
    os.chown(box, owner.st_uid, owner.st_gid)
    os.chmod(box, 0o700)
    msgs = petrel.wait_messages(1)
    assert len(msgs) == 1 and b"Subject: retry me" in msgs[0]
    assert not petrel.queue_files()
