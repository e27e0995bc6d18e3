"""The collector's group committer on SQLite and PostgreSQL: when a group's transaction fails,
each batch is retried alone, so the good batches of the group are stored and answered, and
only the bad one's request gets the error."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError

from tracker.collect.writer import GroupCommitter

# Reads with connections of its own (or the writer thread's): it needs real commits.
pytestmark = pytest.mark.committed

# A table of this test's own: the committer is generic over what it stores.
probe_metadata = MetaData()
probe = Table(
    "group_commit_probe",
    probe_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("value", String(20), nullable=False),
)
Batch = tuple[int, str | None]


@pytest.fixture
def probe_table(engine: Engine) -> Iterator[Table]:
    probe_metadata.create_all(engine)
    yield probe
    probe_metadata.drop_all(engine)


def submit_in_thread(committer: GroupCommitter[Batch, None], batch: Batch) -> Future[None]:
    """Submit from a thread of its own, as a request does; the future holds its answer."""
    answer: Future[None] = Future()

    def request() -> None:
        try:
            committer.submit(batch)
        except Exception as error:  # noqa: BLE001 - handed to the test
            answer.set_exception(error)
        else:
            answer.set_result(None)

    threading.Thread(target=request, daemon=True).start()
    return answer


def wait_until(condition: Callable[[], bool]) -> None:
    for _ in range(30_000):
        if condition():
            return
        threading.Event().wait(0.001)
    raise AssertionError("the writer never got there")


def test_a_bad_batch_is_retried_alone_and_its_groups_good_batches_are_stored(
    engine: Engine, probe_table: Table
) -> None:
    attempts: list[list[Batch]] = []
    committed: list[list[Batch]] = []
    gate = threading.Event()

    def store(batches: Sequence[Batch]) -> None:
        attempts.append(list(batches))
        if batches[0][0] == 0:
            gate.wait()  # holds the writer so the next batches queue up into one group
        with engine.begin() as connection:
            for batch_id, value in batches:
                connection.execute(insert(probe_table).values(id=batch_id, value=value))

    committer: GroupCommitter[Batch, None] = GroupCommitter(
        store, after_commit=lambda batches, _: committed.append(list(batches))
    )
    first = submit_in_thread(committer, (0, "gate"))
    wait_until(lambda: len(attempts) == 1)  # the writer holds the gate batch
    group = [(1, "good"), (2, None), (3, "good")]  # NULL breaks NOT NULL: the bad one
    answers = []
    for queued, batch in enumerate(group, start=1):
        answers.append(submit_in_thread(committer, batch))
        wait_until(lambda queued=queued: committer._queue.qsize() == queued)
    gate.set()

    first.result(timeout=30)
    assert answers[0].result(timeout=30) is None
    with pytest.raises(IntegrityError):
        answers[1].result(timeout=30)
    assert answers[2].result(timeout=30) is None
    with engine.connect() as connection:
        stored = connection.execute(select(probe_table.c.id).order_by(probe_table.c.id))
        assert [row.id for row in stored] == [0, 1, 3]
    assert attempts == [[(0, "gate")], group, [group[0]], [group[1]], [group[2]]]
    assert committed == [[(0, "gate")], [group[0]], [group[2]]]
    assert (committer.stats.groups, committer.stats.failures) == (2, 1)
