from django.urls import path

from media import api

urlpatterns = [
    path("media", api.MediaUploadApi.as_view(), name="media-upload"),
    path("media/multiple", api.MediaUploadManyApi.as_view(), name="media-upload-multiple"),
    path("media/<int:media_id>", api.MediaDetailApi.as_view(), name="media-detail"),
    path("media/<int:media_id>/download", api.MediaDownloadApi.as_view(), name="media-download"),
    path("media/<int:media_id>/thumbnail", api.MediaThumbnailApi.as_view(), name="media-thumbnail"),
]
