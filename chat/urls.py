from django.urls import path

from chat import member_views, search_views, upload_views, views

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
    # Room management (chat.membership): members API and the members panel's forms.
    path("api/rooms/<slug:slug>", member_views.api_room, name="api-room"),
    path("api/rooms/<slug:slug>/members", member_views.api_members, name="api-members"),
    path("api/rooms/<slug:slug>/members/<str:username>", member_views.api_member, name="api-member"),
    path("rooms/<slug:slug>/settings/", member_views.room_settings, name="room-settings"),
    path("rooms/<slug:slug>/members/", member_views.member_invite, name="member-invite"),
    path("rooms/<slug:slug>/members/<str:username>/remove/", member_views.member_remove, name="member-remove"),
    path("rooms/<slug:slug>/members/<str:username>/role/", member_views.member_role, name="member-role"),
]
