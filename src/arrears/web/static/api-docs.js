// Starts Swagger UI on /api/v1/docs from a file of the app's own (the content security policy
// allows no inline script); the OpenAPI address comes from the page's data-openapi attribute.
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null, // no badge fetched from another site
  });
});
