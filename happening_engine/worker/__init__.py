"""The notification worker (`happening worker`): consumer, delivery channels, wording."""
from .consumer import NotificationWorker

__all__ = ["NotificationWorker"]
