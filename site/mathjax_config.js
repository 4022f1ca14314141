// ipywidgets' controls typeset their labels through MathJax 2's API (MathJax.Hub.Queue); this site runs
// MathJax 3. Give them a MathJax.Hub: a no-op until MathJax is ready (no label holds TeX before then
// that the first page typeset would miss), then one that hands the element to MathJax 3.
window.MathJax = Object.assign(window.MathJax || {}, {
    Hub: {Queue: () => {}},
    startup: {
        ready() {
            MathJax.startup.defaultReady();
            MathJax.Hub = {Queue: ([, , element]) => MathJax.typesetPromise([element])};
        },
    },
});
