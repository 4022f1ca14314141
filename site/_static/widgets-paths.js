// The widget manager (embed-amd.js) loads its icon fonts from beside the RequireJS module
// "@jupyter-widgets/html-manager/dist/…", which RequireJS would look for under the page's own folder.
// Point that module path at this site's copy, _static/widgets/, so the fonts come from the site.
require.config({
    paths: {"@jupyter-widgets/html-manager/dist": new URL("widgets", document.currentScript.src).href},
});
