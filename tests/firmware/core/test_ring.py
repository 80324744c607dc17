"""The offline buffer: FIFO, bounded, oldest dropped first and counted."""

from firmware.core.ring import RingBuffer
from tests.firmware.core.expect import raises


def test_keeps_order_and_drops_oldest_when_full():
    """Test that a full buffer drops its oldest items, counts them, and keeps order."""
    ring = RingBuffer(3)
    for i in range(5):
        ring.append(i)
    assert ring.peek(10) == [2, 3, 4]
    assert ring.dropped == 2


def test_drop_removes_only_delivered_items():
    """Test that peek leaves items in place and drop removes the oldest n."""
    ring = RingBuffer(4)
    for i in range(4):
        ring.append(i)
    assert ring.peek(2) == [0, 1]
    ring.drop(2)
    ring.append(4)
    assert ring.peek(10) == [2, 3, 4]
    assert len(ring) == 3
    assert ring.dropped == 0


def test_capacity_must_be_positive():
    """Test that a zero-size buffer is refused."""
    raises(ValueError, RingBuffer, 0)
