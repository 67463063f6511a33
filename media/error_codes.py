"""Error codes of the media app: the ``code`` of every error it answers with. Clients match
on these strings; they never change once published."""

AVATAR_NOT_IMAGE = "avatar_not_image"
FILE_TOO_LARGE = "file_too_large"
INVALID_ATTACHMENTS = "invalid_attachments"
MEDIA_MISSING = "media_missing"
MEDIA_NOT_FOUND = "media_not_found"
NO_FILE = "no_file"
NO_THUMBNAIL = "no_thumbnail"
STORAGE_UNAVAILABLE = "storage_unavailable"
TOO_MANY_FILES = "too_many_files"
UPLOADS_THROTTLED = "uploads_throttled"
