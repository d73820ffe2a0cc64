/* Language switchers (the site's and the admin's) submit their form as soon as a language is
   chosen. No inline handler: the content security policy runs scripts from this site's static
   files only. Without JavaScript the form's own button submits it. */
(function () {
  "use strict";
  document.querySelectorAll("select[data-submit-on-change]").forEach(function (select) {
    select.addEventListener("change", function () {
      select.form.submit();
    });
  });
})();
