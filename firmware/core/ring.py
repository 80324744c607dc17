class RingBuffer:
    """A bounded FIFO: when full, the oldest item is dropped and counted."""

    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._items = [None] * capacity
        self._start = 0
        self._count = 0
        self.dropped = 0

    def __len__(self):
        return self._count

    def append(self, item):
        capacity = len(self._items)
        if self._count == capacity:
            self._items[self._start] = item
            self._start = (self._start + 1) % capacity
            self.dropped += 1
        else:
            self._items[(self._start + self._count) % capacity] = item
            self._count += 1

    def peek(self, n):
        """Up to n items, oldest first, without removing them."""
        n = min(n, self._count)
        capacity = len(self._items)
        return [self._items[(self._start + i) % capacity] for i in range(n)]

    def drop(self, n):
        """Remove the n oldest items (after they were delivered)."""
        n = min(n, self._count)
        capacity = len(self._items)
        for i in range(n):
            self._items[(self._start + i) % capacity] = None
        self._start = (self._start + n) % capacity
        self._count -= n
