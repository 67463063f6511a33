# The real daphne server and headless Chromium of the cabinet's browser tests.
from chats.tests.test_browser import browser, server  # noqa: F401
