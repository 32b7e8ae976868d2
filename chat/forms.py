from django import forms


class RoomForm(forms.Form):
    title = forms.CharField(max_length=120, label="Room name")
    topic = forms.CharField(max_length=300, required=False, label="Topic")
    private = forms.BooleanField(required=False, label="Private (members only)")
