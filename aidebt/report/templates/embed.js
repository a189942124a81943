(function () {
  "use strict";
  // Draw every chart of the page from the JSON spec just before its box. Offline by
  // construction: the specs carry their data and vega-embed comes from the inline bundle.
  var boxes = document.querySelectorAll(".aidebt-chart");
  Array.prototype.forEach.call(boxes, function (box) {
    var spec = JSON.parse(box.previousElementSibling.textContent);
    var options = { mode: box.getAttribute("data-mode"), actions: false, renderer: "svg" };
    window.vegaEmbed(box, spec, options).then(function () {
      box.setAttribute("data-rendered", "true");
    }).catch(function (error) {
      box.setAttribute("data-rendered", "error");
      box.textContent = "This chart could not be drawn: " + error;
      console.error(error);
    });
  });
})();
