"""An actor's mailbox: commands come out in arrival order, bookings in batches, event-level commands alone."""
from __future__ import annotations

import asyncio
import time
from uuid import UUID, uuid4

from happening_engine.actors.mailbox import Envelope, Mailbox
from happening_engine.commands import Book, CancelBooking, CancelEvent, Command, PublishEvent, UpdateEvent

EVENT = uuid4()


def envelope(command: Command) -> Envelope:
    return Envelope(command, asyncio.get_running_loop().create_future())


def book(user: UUID | None = None) -> Book:
    return Book(EVENT, user or uuid4(), 1)


def filled(*commands: Command) -> Mailbox:
    mailbox = Mailbox()
    for command in commands:
        mailbox.put(envelope(command))
    return mailbox


async def drain(mailbox: Mailbox, max_size: int) -> list[list[Command]]:
    batches = []
    while len(mailbox):
        batches.append([e.command for e in await mailbox.next_batch(max_size, timeout=1)])
    return batches


async def test_bookings_and_cancellations_come_out_in_arrival_order_in_batches_of_at_most_max_size() -> None:
    commands: list[Command] = [book() if i % 3 else CancelBooking(EVENT, uuid4()) for i in range(7)]
    batches = await drain(filled(*commands), max_size=3)
    assert batches == [commands[0:3], commands[3:6], commands[6:7]]


async def test_an_event_level_command_is_handed_out_alone_and_no_batch_spans_it() -> None:
    before, after = [book(), book()], [book(), book()]
    publish, update = PublishEvent(EVENT), UpdateEvent(EVENT, {"total_slots": 5})
    cancel = CancelEvent(EVENT)
    batches = await drain(filled(*before, publish, update, *after, cancel, book()), max_size=100)
    assert batches[:5] == [before, [publish], [update], after, [cancel]]
    assert len(batches) == 6


async def test_an_empty_mailbox_gives_nothing_after_the_timeout() -> None:
    started = time.monotonic()
    assert await Mailbox().next_batch(10, timeout=0.05) == []
    assert time.monotonic() - started >= 0.04


async def test_a_waiting_actor_gets_a_command_as_soon_as_it_arrives() -> None:
    mailbox = Mailbox()
    waiting = asyncio.ensure_future(mailbox.next_batch(10, timeout=30))
    await asyncio.sleep(0.01)
    command = book()
    mailbox.put(envelope(command))
    batch = await asyncio.wait_for(waiting, 1)  # not the 30 s timeout
    assert [e.command for e in batch] == [command]
    assert len(mailbox) == 0


async def test_wake_ends_the_wait_of_an_empty_mailbox_with_nothing() -> None:
    mailbox = Mailbox()
    waiting = asyncio.ensure_future(mailbox.next_batch(10, timeout=30))
    await asyncio.sleep(0.01)
    mailbox.wake()  # the actor is asked to close
    assert await asyncio.wait_for(waiting, 1) == []
