from django.urls import path

from chat import member_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("rooms/new/", views.room_new, name="room-new"),
    path("rooms/<slug:slug>/", views.room_detail, name="room"),
    path("rooms/<slug:slug>/mute/", views.room_mute, name="room-mute"),
    path("users/<str:username>/", views.user_profile, name="profile"),
    path("users/<str:username>/message/", views.direct_message, name="direct-message"),
    path("api/rooms/<slug:slug>/messages", views.api_messages, name="api-messages"),
    # Room management (chat.membership): members API and the members panel's forms.
    path("api/rooms/<slug:slug>", member_views.api_room, name="api-room"),
    path("api/rooms/<slug:slug>/members", member_views.api_members, name="api-members"),
    path("api/rooms/<slug:slug>/members/<str:username>", member_views.api_member, name="api-member"),
    path("rooms/<slug:slug>/settings/", member_views.room_settings, name="room-settings"),
    path("rooms/<slug:slug>/members/", member_views.member_invite, name="member-invite"),
    path("rooms/<slug:slug>/members/<str:username>/remove/", member_views.member_remove, name="member-remove"),
    path("rooms/<slug:slug>/members/<str:username>/role/", member_views.member_role, name="member-role"),
]
