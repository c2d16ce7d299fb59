"""The notification worker (`happening worker`): consumer, delivery channels, rendering."""
from .consumer import NotificationWorker

__all__ = ["NotificationWorker"]
