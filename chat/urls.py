from django.urls import path

from chat import search_views, upload_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("rooms/new/", views.room_new, name="room-new"),
    path("rooms/<slug:slug>/", views.room_detail, name="room"),
    path("rooms/<slug:slug>/mute/", views.room_mute, name="room-mute"),
    path("users/<str:username>/", views.user_profile, name="profile"),
    path("users/<str:username>/message/", views.direct_message, name="direct-message"),
    path("api/rooms/<slug:slug>/messages", views.api_messages, name="api-messages"),
    path("search/", search_views.search_page, name="search"),
    path("api/search", search_views.api_search, name="api-search"),
    path("api/rooms/<slug:slug>/uploads", upload_views.api_upload, name="api-upload"),
    path("files/<uuid:attachment_id>/", upload_views.attachment_download, name="attachment"),
    path("files/<uuid:attachment_id>/thumbnail", upload_views.attachment_download, {"thumbnail": True}),
]
