// Swagger UI for the API's OpenAPI document, both served by this API (nothing from a CDN).
const root = document.getElementById("swagger-ui");
window.ui = window.SwaggerUIBundle({
  url: root.dataset.document,
  domNode: root,
  deepLinking: true,
  // Swagger UI would send the document to validator.swagger.io for a badge.
  validatorUrl: null,
});
