// Starts Swagger UI on the page's #swagger-ui element, with the OpenAPI document named by its
// data-spec-url attribute (a file, not an inline script, so a script-src 'self' policy allows it).
(function () {
  var element = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: element.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    displayOperationId: true,
    validatorUrl: null, // the default sends the document to validator.swagger.io from any non-local host
    showExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
