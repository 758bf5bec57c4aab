from django.urls import path

from . import views

app_name = "gameplay"

urlpatterns = [
    path("", views.hub, name="hub"),
    path("camp/", views.camp_index, name="camp"),
    path("camp/<slug:rung>/predict/", views.camp_predict, name="camp-predict"),
    path("camp/<slug:rung>/explain/", views.camp_explain, name="camp-explain"),
    path("predict/", views.predict, name="predict"),
    path("explain/", views.explain_pick, name="explain-pick"),
    path("explain/<int:feature_id>/", views.explain, name="explain"),
    path("verify/", views.verify, name="verify"),
    path("daily/", views.daily, name="daily"),
    path("daily/<str:day>/card/<str:username>/", views.daily_card, name="daily-card"),
    path("round/<int:pk>/", views.round_detail, name="round"),
    path("round/<int:pk>/answer/<int:position>/", views.answer, name="answer"),
    path("round/<int:pk>/hint/", views.round_hint, name="hint"),
    path("shop/", views.shop, name="shop"),
    path("shop/buy/<slug:slug>/", views.buy, name="buy"),
    path("shop/equip/", views.equip, name="equip"),
    path("bones/", views.bones, name="bones"),
    path("leaderboard/", views.leaderboard, name="leaderboard"),
]
