// The SSL certificate screens (issue 12): the inventory (#/ssl), the request wizard (#/ssl/new) and a
// certificate's page (#/ssl/<id>). Imported in this order so that /ssl/new is matched before /ssl/:id.
import "./ssl-inventory.js";
import "./ssl-wizard.js";
import "./ssl-certificate.js";
