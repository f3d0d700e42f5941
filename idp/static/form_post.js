// Submits the form_post authorization response at once; the button is there for browsers without JavaScript.
document.getElementById("form-post-response").submit();
