// aidebt's JupyterLab renderer for Vega-Lite 6 and Vega 6 outputs (see aidebt/jupyter.py).
//
// JupyterLab loads a prebuilt extension as a webpack "module federation" container: it
// runs this script, calls init() with the application's shared modules, then
// get("./mimeExtension"). This file is that container, written by hand so that the
// extension needs no JavaScript build. vega, vega-lite and vega-embed come from
// static/vega.js, vl-convert's bundle (written when the package is built, see
// hatch_build.py), loaded from the Jupyter server on the first chart: no CDN, no network.
(function () {
  "use strict";

  var NAME = "aidebt";
  var MIME_TYPES = {
    "application/vnd.vegalite.v6+json": "vega-lite",
    "application/vnd.vegalite.v6.json": "vega-lite", // altair's own spelling
    "application/vnd.vega.v6+json": "vega",
    "application/vnd.vega.v6.json": "vega",
  };
  var STATIC = document.currentScript.src.replace(/[^/]*$/, "");
  var shared = null;
  var vegaReady = null;

  function newest(versions) {
    function parts(v) {
      return v.split(/[.+-]/).map(function (p) { return parseInt(p, 10) || 0; });
    }
    return Object.keys(versions).sort(function (a, b) {
      var x = parts(a), y = parts(b);
      for (var i = 0; i < Math.max(x.length, y.length); i++) {
        if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) - (y[i] || 0);
      }
      return 0;
    }).pop();
  }

  function sharedModule(name) {
    var versions = shared && shared[name];
    if (!versions) return Promise.reject(new Error(NAME + ": JupyterLab does not share " + name));
    return Promise.resolve(versions[newest(versions)].get()).then(function (factory) {
      return factory();
    });
  }

  function loadVega() {
    // The bundle is an ES module that sets window.vegaEmbed; import it once per page.
    if (!vegaReady) {
      vegaReady = window.vegaEmbed
        ? Promise.resolve(window.vegaEmbed)
        : import(STATIC + "vega.js").then(function () { return window.vegaEmbed; });
    }
    return vegaReady;
  }

  function makeExtension(Widget) {
    class ChartRenderer extends Widget {
      constructor(options) {
        super();
        this._mimeType = options.mimeType;
        this._resolver = options.resolver;
        this._result = null;
        this.addClass("aidebt-RenderedVega");
      }

      async renderModel(model) {
        var spec = model.data[this._mimeType];
        if (spec === undefined) return;
        var metadata = model.metadata[this._mimeType] || {};
        var options = Object.assign(
          { actions: { export: true, source: true, compiled: true, editor: false } },
          metadata.embed_options || {},
          { mode: MIME_TYPES[this._mimeType] }
        );
        if (document.body.dataset.jpThemeLight === "false" && !options.theme) {
          options.theme = "dark";
        }
        try {
          var vegaEmbed = await loadVega();
          // Data named by a relative URL is read from the notebook's folder.
          options.loader = Object.assign(
            { baseURL: await this._folderUrl(), http: { credentials: "same-origin" } },
            options.loader || {}
          );
          if (this._result) this._result.finalize();
          var box = document.createElement("div");
          this.node.textContent = "";
          this.node.appendChild(box);
          this._result = await vegaEmbed(box, spec, options);
        } catch (error) {
          this.node.textContent = "This chart could not be drawn: " + error;
          console.error(error);
        }
      }

      async _folderUrl() {
        var resolver = this._resolver;
        if (!resolver || !resolver.getDownloadUrl) return undefined;
        var probe = "aidebt-probe";
        var url = new URL(
          await resolver.getDownloadUrl(await resolver.resolveUrl(probe)),
          window.location.href
        );
        url.search = "";
        return url.href.slice(0, -probe.length);
      }

      dispose() {
        if (this._result) this._result.finalize();
        this._result = null;
        super.dispose();
      }
    }

    return {
      id: NAME + ":vega6",
      description: "Draws Vega-Lite 6 and Vega 6 outputs offline.",
      // Before text/html (rank 50), which aidebt adds as a fallback for other frontends.
      rank: 40,
      dataType: "json",
      rendererFactory: {
        safe: true,
        mimeTypes: Object.keys(MIME_TYPES),
        createRenderer: function (options) { return new ChartRenderer(options); },
      },
    };
  }

  window._JUPYTERLAB = window._JUPYTERLAB || {};
  window._JUPYTERLAB[NAME] = {
    init: function (shareScope) {
      shared = shareScope;
    },
    get: function (module) {
      if (module !== "./mimeExtension") {
        return Promise.reject(new Error(NAME + " has no module " + module));
      }
      return sharedModule("@lumino/widgets").then(function (lumino) {
        var extension = makeExtension(lumino.Widget);
        return function () { return { __esModule: true, default: extension }; };
      });
    },
  };
})();
