from django.urls import path

from chat import views

urlpatterns = [
    path("", views.home, name="home"),
    path("rooms/new/", views.room_new, name="room-new"),
    path("rooms/<slug:slug>/", views.room_detail, name="room"),
    path("rooms/<slug:slug>/mute/", views.room_mute, name="room-mute"),
    path("users/<str:username>/", views.user_profile, name="profile"),
    path("users/<str:username>/message/", views.direct_message, name="direct-message"),
    path("api/rooms/<slug:slug>/messages", views.api_messages, name="api-messages"),
]
