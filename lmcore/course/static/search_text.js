// Written for lmcore/course/book_pages.py. Sphinx's search shows each result's text around the
// match, read from the page's HTML before MathJax typesets it, so a formula appears as raw TeX
// between \( \) or \[ \] delimiters. Drop the delimiters (and $$) from those summaries.
document.addEventListener("DOMContentLoaded", function () {
  if (typeof Search === "undefined" || !Search.htmlToText) return;
  var htmlToText = Search.htmlToText;
  Search.htmlToText = function (htmlString, anchor) {
    return htmlToText.call(this, htmlString, anchor).replace(/\\\(|\\\)|\\\[|\\\]|\$\$/g, "");
  };
});
